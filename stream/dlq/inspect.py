"""What is in the dead-letter queue: counts by outcome, error class, stage, model and hour.

Reads the DLQ topic from the beginning up to its end when the call starts, without a
consumer group (nothing is committed, nothing disturbs a replay). The same filters as
replay apply (``--until`` is a plain filter here: inspection has no position to keep).

Document text is never part of a report unless ``show_values`` is set, and then only as
a short preview (``PREVIEW_CHARS`` characters of UTF-8, or ``PREVIEW_BYTES`` bytes as
hex when the value is not UTF-8). The size of the value is always reported; the error
message header never holds document text (the worker guarantees it). Without
``show_values`` the completed stages appear by name only, and the original's own headers
(set by whoever produced it, so possibly from the document) by size, except the W3C
trace context.
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stream.config import Settings
from stream.dlq.entry import DlqEntry, read_entry
from stream.dlq.filters import ReplayFilters, Selection, Verdict
from stream.kafka.reader import read_topic
from stream.models import HEADER_PREFIX
from stream.models.pipeline_spec import STAGE_NAME_PATTERN
from stream.ports import RawRecord

__all__ = ["PREVIEW_BYTES", "PREVIEW_CHARS", "DlqReport", "Sample", "Tally", "inspect_dlq"]

PREVIEW_CHARS = 80
PREVIEW_BYTES = 32
_HEADER_CHARS = 200
NONE = "(none)"
_STAGE_NAME = re.compile(STAGE_NAME_PATTERN)
_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})  # ids only, never content


@dataclass(frozen=True, slots=True)
class Sample:
    """One DLQ record as shown by ``--show``: context headers decoded, no document text."""

    source: str  # dlqtopic/partition/offset
    document_id: str | None
    key: str | None
    context: dict[str, Any]  # DeadLetter fields, or {} when the headers are unusable
    problem: str | None
    other_headers: dict[str, str]  # non-docstream headers (traceparent, the publisher's)
    value_bytes: int
    preview: str | None = None  # only with show_values

    def to_dict(self) -> dict[str, Any]:
        data = {
            "source": self.source,
            "document_id": self.document_id,
            "key": self.key,
            "context": self.context,
            "problem": self.problem,
            "headers": self.other_headers,
            "value_bytes": self.value_bytes,
        }
        if self.preview is not None:
            data["value_preview"] = self.preview
        return data


@dataclass(slots=True)
class DlqReport:
    topic: str
    filters: str
    total: int = 0  # records read
    matched: int = 0
    invalid: int = 0  # without usable docstream headers
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_error_class: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    by_hour: Counter[str] = field(default_factory=Counter)  # of the last failure, UTC
    samples: list[Sample] = field(default_factory=list)  # most recent failures first

    def breakdowns(self) -> dict[str, Counter[str]]:
        return {
            "outcome": self.by_outcome,
            "error_class": self.by_error_class,
            "stage": self.by_stage,
            "model": self.by_model,
            "hour": self.by_hour,
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "topic": self.topic,
            "filters": self.filters,
            "total": self.total,
            "matched": self.matched,
            "invalid": self.invalid,
        }
        for name, counts in self.breakdowns().items():
            ordered = sorted(counts.items()) if name == "hour" else counts.most_common()
            out[f"by_{name}"] = dict(ordered)
        out["samples"] = [s.to_dict() for s in self.samples]
        return out


class Tally:
    """Accumulates entries into a DlqReport; keeps the ``show`` most recent as samples."""

    def __init__(
        self, report: DlqReport, selection: Selection, *, show: int, show_values: bool
    ) -> None:
        self.report = report
        self._selection = selection
        self._show = show
        self._show_values = show_values
        self._heap: list[tuple[float, int, DlqEntry]] = []
        self._seq = itertools.count()

    def add(self, entry: DlqEntry) -> None:
        report = self.report
        report.total += 1
        verdict = self._selection.verdict(entry)
        if verdict is Verdict.INVALID:
            report.invalid += 1
            if self._selection.filters.is_empty():
                self._keep(entry, float("-inf"))
            return
        if verdict is not Verdict.MATCH or entry.letter is None:
            return
        letter = entry.letter
        report.matched += 1
        report.by_outcome[letter.outcome] += 1
        report.by_error_class[letter.error_class] += 1
        report.by_stage[letter.stage or NONE] += 1
        report.by_model[letter.model or NONE] += 1
        report.by_hour[hour_of(letter.last_failure_at)] += 1
        self._keep(entry, letter.last_failure_at.timestamp())

    def finish(self) -> DlqReport:
        newest = sorted(self._heap, key=lambda item: (item[0], item[1]), reverse=True)
        self.report.samples = [sample(e, show_values=self._show_values) for *_, e in newest]
        return self.report

    def _keep(self, entry: DlqEntry, when: float) -> None:
        if self._show <= 0:
            return
        item = (when, next(self._seq), entry)
        if len(self._heap) < self._show:
            heapq.heappush(self._heap, item)
        elif item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)


async def inspect_dlq(
    settings: Settings,
    filters: ReplayFilters | None = None,
    *,
    show: int = 0,
    show_values: bool = False,
    now: Callable[[], datetime] | None = None,
) -> DlqReport:
    """Read the whole DLQ topic once and summarise the records ``filters`` select."""
    filters = filters or ReplayFilters()
    topic = settings.kafka.topics.dlq
    selection = filters.resolve((now or (lambda: datetime.now(UTC)))())
    tally = Tally(
        DlqReport(topic, filters.describe()), selection, show=show, show_values=show_values
    )
    async for record in read_topic(settings.kafka, topic, from_beginning=True, follow=False):
        tally.add(read_entry(record))
    return tally.finish()


def hour_of(when: datetime) -> str:
    """``2025-05-01T10:00Z``: the UTC hour a failure happened in."""
    utc = when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:00Z")


def sample(entry: DlqEntry, *, show_values: bool) -> Sample:
    record = entry.record
    value = record.value or b""
    return Sample(
        source=entry.coordinates,
        document_id=entry.document_id,
        key=entry.key_text,
        context=_context(entry, show_values),
        problem=entry.problem,
        other_headers=_other_headers(record, show_values),
        value_bytes=len(value),
        preview=preview(value) if show_values else None,
    )


def _context(entry: DlqEntry, show_values: bool) -> dict[str, Any]:
    """The DLQ context; the completed stages' outputs derive from the document, so unless
    values are shown only their names appear."""
    if entry.letter is None:
        return {}
    context = entry.letter.model_dump(mode="json")
    carried = entry.letter.completed_stages
    if carried is not None and not show_values:
        context["completed_stages"] = _stage_names(carried)
    return context


def _stage_names(carried: str) -> str:
    """The names of the carried stages when the header holds a ``stages`` object keyed by
    stage names; anything else (a damaged or foreign header) is not echoed at all."""
    try:
        stages = json.loads(carried).get("stages")
    except (ValueError, AttributeError):
        return "(unreadable)"
    if not isinstance(stages, dict) or not all(_STAGE_NAME.match(name) for name in stages):
        return "(unreadable)"
    return f"{', '.join(sorted(stages))} (outputs with --show-values)"


def _other_headers(record: RawRecord, show_values: bool) -> dict[str, str]:
    """The original's own headers: values only for the trace context unless values are
    shown (a producer may have put anything in them, e.g. a title)."""
    return {
        name: value.decode("utf-8", "replace")[:_HEADER_CHARS]
        if show_values or name in _TRACE_HEADERS
        else f"({len(value)} bytes; value with --show-values)"
        for name, value in record.headers
        if not name.startswith(HEADER_PREFIX)
    }


def preview(value: bytes) -> str:
    """A short, single-line look at a value: UTF-8 text (escaped) or hex bytes."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        head = value[:PREVIEW_BYTES].hex(" ")
        return f"hex: {head}{' …' if len(value) > PREVIEW_BYTES else ''}"
    shown = text[:PREVIEW_CHARS].encode("unicode_escape").decode("ascii")
    return f"utf-8: {shown}{'…' if len(text) > PREVIEW_CHARS else ''}"
