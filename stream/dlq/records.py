"""Building dead-letter records: original bytes and key untouched, context in headers."""

from __future__ import annotations

from collections.abc import Sequence

from stream.errors import Failure
from stream.kafka.reader import RawRecord
from stream.models import HEADER_PREFIX, DeadLetter, truncate_message

__all__ = ["REPLAY_COUNT_HEADER", "REPLAY_FROM_HEADER", "dead_letter_headers", "replay_count"]

REPLAY_COUNT_HEADER = HEADER_PREFIX + "replay.count"
REPLAY_FROM_HEADER = HEADER_PREFIX + "replay.from"
# Headers we own or that describe the previous hop; a DLQ record gets fresh ones.
_DROP = ("traceparent", "tracestate")


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
            return value.decode("utf-8", "replace")
    return None


def dead_letter_headers(
    record: RawRecord, failure: Failure, *, group: str, worker_id: str
) -> list[tuple[str, bytes]]:
    """The record's own headers (minus ours and trace context) plus the DLQ context."""
    context = DeadLetter(
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
    kept = [(k, v) for k, v in record.headers if not k.startswith(HEADER_PREFIX) and k not in _DROP]
    return kept + context.to_headers()
