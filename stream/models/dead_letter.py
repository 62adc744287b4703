"""The DLQ record's context. The value is the original bytes; this rides in headers.

Header names follow Kafka Connect's style with a ``docstream.`` prefix, so any Kafka tool
shows them. ``DeadLetter`` converts to and from those headers (bytes values).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HEADER_PREFIX", "DeadLetter"]

HEADER_PREFIX = "docstream."
MAX_MESSAGE_CHARS = 500

# field name -> header name (without the prefix)
_HEADERS = {
    "original_topic": "original.topic",
    "original_partition": "original.partition",
    "original_offset": "original.offset",
    "original_timestamp": "original.timestamp",
    "consumer_group": "consumer.group",
    "outcome": "error.outcome",
    "error_class": "error.class",
    "error_message": "error.message",
    "http_status": "error.http_status",
    "request_id": "error.request_id",
    "stage": "stage",
    "model": "model",
    "attempts": "attempts",
    "first_failure_at": "first_failure_at",
    "last_failure_at": "last_failure_at",
    "worker_id": "worker.id",
    "replay_count": "replay.count",
    "replayed_from": "replay.from",
    "original_truncated": "original.truncated",
    "original_size": "original.size",
    "original_sha256": "original.sha256",
    "completed_stages": "stages.completed",
}


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    original_topic: str
    original_partition: int
    original_offset: int
    original_timestamp: int | None = Field(None, description="ms since the epoch")
    consumer_group: str
    outcome: str = Field(description="the outcome taxonomy value, e.g. bad_input, refused")
    error_class: str = Field(description="finer class, e.g. invalid_json, retries_exhausted")
    error_message: str = Field(
        max_length=MAX_MESSAGE_CHARS, description="truncated; never document text"
    )
    http_status: int | None = None
    request_id: str | None = None
    stage: str | None = None
    model: str | None = None
    attempts: int = 0
    first_failure_at: datetime
    last_failure_at: datetime
    worker_id: str
    replay_count: int = 0
    replayed_from: str | None = Field(
        None, description="topic/partition/offset of the DLQ record this document was replayed from"
    )
    original_truncated: str | None = Field(
        None,
        description="only when the original did not fit in a DLQ record: what was cut, "
        "comma-separated from value, headers (the original's own, dropped), key",
    )
    original_size: int | None = Field(
        None, description="only with original_truncated: the original value's size in bytes"
    )
    original_sha256: str | None = Field(
        None, description="only with original_truncated: hex SHA-256 of the original value"
    )
    completed_stages: str | None = Field(
        None,
        description="JSON (a CompletedStages object): the outputs, models and token counts "
        "of the stages that succeeded before the failure; a replay resumes after them",
    )

    def to_headers(self) -> list[tuple[str, bytes]]:
        out = []
        for field, value in self.model_dump(mode="json").items():
            if value is not None:
                out.append((HEADER_PREFIX + _HEADERS[field], str(value).encode("utf-8")))
        return out

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> DeadLetter:
        by_header = {h: f for f, h in _HEADERS.items()}
        values: dict[str, str] = {}
        for name, raw in headers:
            if name.startswith(HEADER_PREFIX):
                field = by_header.get(name[len(HEADER_PREFIX) :])
                if field is not None:
                    values[field] = raw.decode("utf-8", "replace")
        return cls.model_validate(values)


def truncate_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 1] + "…"
