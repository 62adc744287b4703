"""Which DLQ records an inspection or a replay looks at, and the stable name of a filter set.

``ReplayFilters`` is what the user asked for (``--outcome refused --since 2h``). Values
within one filter are alternatives; different filters must all hold. ``resolve(now)``
turns relative times into instants and gives a ``Selection`` that judges entries.

``fingerprint()`` hashes the *normalised* filters (sorted, de-duplicated values; times as
UTC instants, or as ``-<seconds>s`` when relative, so ``2h`` and ``120m`` agree). Replay
names its consumer group after it: one committed position per filter set (see
``stream.dlq.replay``). ``limit`` is not part of the fingerprint: it bounds one run, it
does not change which records belong to the set.

``until`` is a cut-off rather than a filter during replay: a record newer than it ends
its partition's pass (``Verdict.TOO_NEW``) so the position stays before it and a later
run picks it up once it qualifies. Skipping past it would lose it for ever whenever
``until`` is relative (``--until 1h``) and so moves forward with time.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stream.dlq.entry import DlqEntry

__all__ = ["ReplayFilters", "Selection", "TimeBound", "Verdict"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Verdict(enum.Enum):
    MATCH = "match"
    FILTERED = "filtered"  # not selected; a replay moves its position past it
    TOO_NEW = "too_new"  # after --until: a replay stops this partition before it
    INVALID = "invalid"  # no usable docstream headers


@dataclass(frozen=True, slots=True)
class TimeBound:
    """An instant (``absolute``, timezone-aware) or an age (``ago_s`` before now)."""

    absolute: datetime | None = None
    ago_s: float | None = None

    @classmethod
    def parse(cls, text: str) -> TimeBound:
        """``2h`` / ``30m`` / ``1.5d`` (before now) or an ISO 8601 time (UTC if no zone)."""
        match = _RELATIVE.match(text)
        if match is not None:
            return cls(ago_s=float(match.group(1)) * _UNIT_S[match.group(2).lower()])
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{text!r} is neither an ISO time (2025-05-01T10:00:00Z) nor an age "
                "(90s, 30m, 2h, 1d, 1w)"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(absolute=when.astimezone(UTC))

    def resolve(self, now: datetime) -> datetime:
        if self.absolute is not None:
            return self.absolute
        return now - timedelta(seconds=self.ago_s or 0.0)

    def normalised(self) -> str:
        if self.absolute is not None:
            return self.absolute.astimezone(UTC).isoformat()
        return f"-{self.ago_s or 0.0:g}s"


@dataclass(frozen=True, slots=True)
class ReplayFilters:
    outcomes: tuple[str, ...] = ()
    error_classes: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    since: TimeBound | None = None
    until: TimeBound | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")

    def is_empty(self) -> bool:
        """No selection criterion (``limit`` does not count)."""
        return not self.normalised()

    def normalised(self) -> dict[str, Any]:
        """The selection as plain sorted data: equal for filters that select the same."""
        out: dict[str, Any] = {}
        for name in ("outcomes", "error_classes", "stages", "keys", "ids"):
            values = sorted(set(getattr(self, name)))
            if values:
                out[name] = values
        if self.since is not None:
            out["since"] = self.since.normalised()
        if self.until is not None:
            out["until"] = self.until.normalised()
        return out

    def fingerprint(self) -> str:
        """12 hex digits of SHA-256 over the normalised selection (stable across runs)."""
        canonical = json.dumps(self.normalised(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    def describe(self) -> str:
        """One line for humans, e.g. ``outcomes=refused since=-7200s`` (or ``all``)."""
        parts = []
        for name, value in self.normalised().items():
            shown = ",".join(value) if isinstance(value, list) else value
            parts.append(f"{name}={shown}")
        return " ".join(parts) or "all"

    def resolve(self, now: datetime) -> Selection:
        return Selection(
            self,
            since=self.since.resolve(now) if self.since is not None else None,
            until=self.until.resolve(now) if self.until is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """Filters with their times fixed: judges one entry at a time."""

    filters: ReplayFilters
    since: datetime | None
    until: datetime | None

    def verdict(self, entry: DlqEntry) -> Verdict:
        letter = entry.letter
        if letter is None:
            return Verdict.INVALID
        f = self.filters
        failed_at = _aware(letter.last_failure_at)
        if self.until is not None and failed_at > self.until:
            return Verdict.TOO_NEW
        checks = (
            not f.outcomes or letter.outcome in f.outcomes,
            not f.error_classes or letter.error_class in f.error_classes,
            not f.stages or letter.stage in f.stages,
            not f.keys or entry.key_text in f.keys,
            not f.ids or bool({entry.key_text, entry.document_id} & set(f.ids)),
            self.since is None or failed_at >= self.since,
        )
        return Verdict.MATCH if all(checks) else Verdict.FILTERED

    def matches(self, entry: DlqEntry) -> bool:
        return self.verdict(entry) is Verdict.MATCH


def _aware(when: datetime) -> datetime:
    """Header times are written with a zone; one without is taken as UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
