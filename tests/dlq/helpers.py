"""Filling a DLQ through the real worker, and reading back what replay sent."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from stream.claude import ClaudeClient, make_client
from stream.config import Settings
from stream.dlq.filters import ReplayFilters
from stream.dlq.records import REPLAY_COUNT_HEADER, REPLAY_FROM_HEADER
from stream.dlq.replay import ReplaySummary, replay
from stream.kafka.admin import ensure_topics
from stream.kafka.producer import KafkaSink
from stream.models import DeadLetter
from stream.ports import RawRecord
from stream.processor import StopPolicy
from stream.worker import WorkerReport, run_worker
from tests.processor.helpers import doc, header, publish, read_all

__all__ = [
    "FAST",
    "SECRET",
    "TRACEPARENT",
    "doc",
    "header",
    "letter_record",
    "publish",
    "put_dlq",
    "read_all",
    "replay_counts",
    "replay_once",
    "replayed_records",
    "result_counts",
    "run_worker_sdk",
    "sources",
    "work",
]

# Small, quick worker settings: two attempts, millisecond backoff, fast commits.
FAST: dict[str, Any] = {
    "limits.max_attempts": 2,
    "limits.backoff_base_s": 0.005,
    "limits.backoff_max_s": 0.01,
    "processing.commit_interval_s": 0.2,
}


async def work(settings: Settings, client: ClaudeClient) -> WorkerReport:
    """Run one worker in-process until it has been idle for a second."""
    return await run_worker(settings, stop=StopPolicy(until_idle_s=1.0), client=client)


async def run_worker_sdk(settings: Settings) -> WorkerReport:
    """The worker with the real SDK client against ``claude.base_url`` (the simulator)."""
    client = make_client(settings, pool_size=8)
    try:
        return await work(settings, client)
    finally:
        await client.aclose()


async def replay_once(
    settings: Settings,
    filters: ReplayFilters | None = None,
    *,
    to: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    group: str | None = None,
    rate: float | None = None,
) -> ReplaySummary:
    return await replay(
        settings,
        filters or ReplayFilters(),
        to=to,
        dry_run=dry_run,
        rate=rate,
        force=force,
        group=group,
    )


async def replayed_records(settings: Settings, topic: str | None = None) -> list[RawRecord]:
    """Records on ``topic`` (default: the input) that a replay sent."""
    records = await read_all(settings, topic or settings.kafka.topics.input)
    return [r for r in records if header(r, REPLAY_FROM_HEADER) is not None]


def sources(records: Iterable[RawRecord]) -> Counter[str]:
    """How often each DLQ record (``docstream.replay.from``) was replayed."""
    return Counter(header(r, REPLAY_FROM_HEADER) or "" for r in records)


def replay_counts(records: Iterable[RawRecord]) -> list[int]:
    return sorted(int(header(r, REPLAY_COUNT_HEADER) or "0") for r in records)


async def result_counts(settings: Settings) -> Counter[str]:
    """Results per document id."""
    values = [
        json.loads(r.value or b"{}")
        for r in await read_all(settings, settings.kafka.topics.results)
    ]
    return Counter(v["document_id"] for v in values)


# -- synthetic DLQ records (the worker's format, written straight to the real broker) ------

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SECRET = "SECRET-DOCUMENT-TEXT-never-printed"


def letter_record(
    doc_id: str,
    *,
    original_topic: str,
    outcome: str = "refused",
    error_class: str = "refusal",
    stage: str | None = "summary",
    model: str | None = "claude-test",
    failed_at: datetime | None = None,
    replay_count: int = 0,
    key: bytes | str | None = "same-as-id",
    value: bytes | None = None,
    extra_headers: Iterable[tuple[str, bytes]] = (),
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of a DLQ record as the worker writes it."""
    when = failed_at or datetime.now(UTC)
    letter = DeadLetter(
        original_topic=original_topic,
        original_partition=0,
        original_offset=7,
        original_timestamp=1_700_000_000_000,
        consumer_group="g",
        outcome=outcome,
        error_class=error_class,
        error_message=f"{outcome}: scripted",
        http_status=400 if outcome == "bad_request" else None,
        stage=stage,
        model=model,
        attempts=1,
        first_failure_at=when,
        last_failure_at=when,
        worker_id="w-1",
        replay_count=replay_count,
    )
    raw_key = doc_id.encode() if key == "same-as-id" else key
    assert raw_key is None or isinstance(raw_key, bytes)
    body = value if value is not None else json.dumps({"id": doc_id, "text": SECRET}).encode()
    headers = [("publisher", b"p1"), *extra_headers, *letter.to_headers()]
    headers.append(("traceparent", TRACEPARENT.encode()))
    return raw_key, body, headers


async def put_dlq(
    settings: Settings,
    records: Iterable[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
    *,
    partition: int | None = None,
) -> list[tuple[int, int]]:
    """Create the topics and write DLQ records in order; return their (partition, offset)."""
    await ensure_topics(settings.kafka)
    coords = []
    async with KafkaSink(settings.kafka) as sink:
        for key, value, headers in records:
            delivered = await sink.send_and_wait(
                settings.kafka.topics.dlq, value, key=key, headers=headers, partition=partition
            )
            coords.append((delivered.partition, delivered.offset))
    return coords
