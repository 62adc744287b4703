"""The record a replay sends for one DLQ record (pure: no I/O).

- value and key: the DLQ record's, which are the original document's, untouched;
- headers: the original non-``docstream.`` headers, minus the trace context of the failed
  processing (the replay's own ``send`` span injects a fresh one), plus
  ``docstream.replay.count`` = the DLQ record's count + 1,
  ``docstream.replay.from`` = ``dlqtopic/partition/offset`` and
  ``docstream.replay.traceparent`` = the failed processing's ``traceparent`` (the new
  process span links to it), and ``docstream.stages.completed`` when the DLQ record has
  it (the stages that succeeded: the replay does not call them again);
- topic: the original topic from the context headers, unless the caller names another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stream.dlq.entry import DlqEntry
from stream.dlq.records import COMPLETED_HEADER, REPLAY_COUNT_HEADER, REPLAY_FROM_HEADER
from stream.models import HEADER_PREFIX
from stream.telemetry.propagation import TRACEPARENT, TRACESTATE, replay_header

__all__ = ["ReplayItem", "Republish", "describe", "republish"]

_TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})


@dataclass(frozen=True, slots=True)
class Republish:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One DLQ record in a replay report (no document text)."""

    source: str  # dlqtopic/partition/offset
    document_id: str | None
    key: str | None
    target: str | None  # topic it goes (or would go) to
    outcome: str | None
    error_class: str | None
    last_failure_at: datetime | None
    replay_count: int  # the DLQ record's count (times replayed before this failure)


def describe(entry: DlqEntry, target: str | None) -> ReplayItem:
    letter = entry.letter
    return ReplayItem(
        source=entry.coordinates,
        document_id=entry.document_id,
        key=entry.key_text,
        target=target,
        outcome=letter.outcome if letter else None,
        error_class=letter.error_class if letter else None,
        last_failure_at=letter.last_failure_at if letter else None,
        replay_count=letter.replay_count if letter else 0,
    )


def republish(entry: DlqEntry, *, to: str | None) -> Republish:
    """The record to send; ``entry.letter`` must be set (a valid DLQ record)."""
    letter = entry.letter
    if letter is None:
        raise ValueError(f"{entry.coordinates}: not a docstream DLQ record ({entry.problem})")
    record = entry.record
    headers = [
        (name, value)
        for name, value in record.headers
        if not name.startswith(HEADER_PREFIX) and name.lower() not in _TRACE_HEADERS
    ]
    headers.append((REPLAY_COUNT_HEADER, str(letter.replay_count + 1).encode("ascii")))
    headers.append((REPLAY_FROM_HEADER, entry.coordinates.encode("utf-8")))
    if letter.completed_stages is not None:  # the replay resumes after them (stream.resume)
        headers.append((COMPLETED_HEADER, letter.completed_stages.encode("utf-8")))
    link = replay_header(record.headers)
    if link is not None:
        headers.append(link)
    return Republish(
        topic=to or letter.original_topic,
        key=record.key,
        value=record.value or b"",
        headers=headers,
    )
