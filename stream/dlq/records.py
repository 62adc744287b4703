"""Building dead-letter records: original bytes and key untouched, context in headers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from stream.errors import Failure
from stream.models import HEADER_PREFIX, DeadLetter, truncate_message
from stream.ports import RawRecord

__all__ = [
    "COMPLETED_HEADER",
    "REPLAY_COUNT_HEADER",
    "REPLAY_FROM_HEADER",
    "DeadLetterRecord",
    "dead_letter_headers",
    "dead_letter_record",
    "replay_count",
]

REPLAY_COUNT_HEADER = HEADER_PREFIX + "replay.count"
REPLAY_FROM_HEADER = HEADER_PREFIX + "replay.from"
COMPLETED_HEADER = HEADER_PREFIX + "stages.completed"  # DeadLetter.completed_stages
# Headers we own or that describe the previous hop; a DLQ record gets fresh ones.
_DROP = ("traceparent", "tracestate")
_MAX_CONTEXT_VALUE = 512


def replay_count(headers: Sequence[tuple[str, bytes]]) -> int:
    """How many times this document has been replayed from the DLQ (0 if never)."""
    for name, value in headers:
        if name == REPLAY_COUNT_HEADER:
            try:
                return max(int(value), 0)
            except ValueError:
                return 0
    return 0


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            # Ours hold topic/partition/offset; a publisher's could be any size, and the
            # context headers must always fit in a DLQ record.
            return value[:_MAX_CONTEXT_VALUE].decode("utf-8", "replace")
    return None


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def dead_letter_record(
    record: RawRecord,
    failure: Failure,
    *,
    group: str,
    worker_id: str,
    max_bytes: int,
    completed: str | None = None,
) -> DeadLetterRecord:
    """The DLQ record for ``record``: its original key, value and headers plus the context,
    or, when that would not fit in ``max_bytes``, a cut-down copy that says what was cut.

    A DLQ send that fails for size would stop the worker on this record after every
    restart, so an oversized original is cut rather than refused: the original's own
    headers and the key when either is over a quarter of the room, then the value to what
    is left. The original value's size and SHA-256 ride along to identify it. The
    ``completed`` stages (``stream.resume``) go first: without them a replay only calls
    again, while a cut value cannot be processed at all.
    """
    context = _context(record, failure, group=group, worker_id=worker_id)
    if completed is not None:
        carried = context.model_copy(update={"completed_stages": completed})
        headers = _kept_headers(record) + carried.to_headers()
        if _size(record.key, record.value or b"", headers) <= max_bytes:
            return DeadLetterRecord(record.key, record.value or b"", headers)
    kept = _kept_headers(record)
    key, value = record.key, record.value or b""
    headers = kept + context.to_headers()
    if _size(key, value, headers) <= max_bytes:
        return DeadLetterRecord(key, value, headers)
    cut: list[str] = []
    if _size(None, b"", kept) > max_bytes // 4:
        kept, cut = [], [*cut, "headers"]
    if key is not None and len(key) > max_bytes // 4:
        key, cut = key[: max_bytes // 4], [*cut, "key"]
    headers = kept + _marked(context, ["value", *cut], value).to_headers()
    room = max(max_bytes - _size(key, b"", headers), 0)
    if len(value) > room:
        return DeadLetterRecord(key, value[:room], headers)
    # Dropping headers or cutting the key was enough: the value stays whole.
    return DeadLetterRecord(key, value, kept + _marked(context, cut, value).to_headers())


def _marked(context: DeadLetter, cut: list[str], value: bytes) -> DeadLetter:
    return context.model_copy(
        update={
            "original_truncated": ",".join(cut),
            "original_size": len(value),
            "original_sha256": hashlib.sha256(value).hexdigest(),
        }
    )


def _size(key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> int:
    """Payload bytes of a record; the caller's budget leaves room for framing."""
    own = sum(len(name.encode("utf-8")) + len(data) for name, data in headers)
    return (len(key) if key is not None else 0) + len(value) + own


def dead_letter_headers(
    record: RawRecord, failure: Failure, *, group: str, worker_id: str
) -> list[tuple[str, bytes]]:
    """The record's own headers (minus ours and trace context) plus the DLQ context."""
    context = _context(record, failure, group=group, worker_id=worker_id)
    return _kept_headers(record) + context.to_headers()


def _kept_headers(record: RawRecord) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in record.headers if not k.startswith(HEADER_PREFIX) and k not in _DROP]


def _context(record: RawRecord, failure: Failure, *, group: str, worker_id: str) -> DeadLetter:
    return DeadLetter(
        original_topic=record.topic,
        original_partition=record.partition,
        original_offset=record.offset,
        original_timestamp=record.timestamp,
        consumer_group=group,
        outcome=failure.outcome.value,
        error_class=failure.error_class,
        error_message=truncate_message(failure.message),
        http_status=failure.http_status,
        request_id=failure.request_id,
        stage=failure.stage,
        model=failure.model,
        attempts=failure.attempts,
        first_failure_at=failure.first_failure_at,
        last_failure_at=failure.last_failure_at,
        worker_id=worker_id,
        replay_count=replay_count(record.headers),
        replayed_from=_header(record.headers, REPLAY_FROM_HEADER),
    )
