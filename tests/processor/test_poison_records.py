"""Poison records through the real worker: whatever the bytes, a DLQ record, never a crash.

The fault campaign's bytes (issue 10.1) sit on partition 0; valid documents on the other
partitions must still get their results, and every input offset ends as exactly one
output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pytest

from stream.config import Settings
from stream.kafka.admin import ensure_topics
from stream.kafka.producer import KafkaSink
from stream.processor import StopPolicy
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import Coord, account, doc, header

pytestmark = pytest.mark.kafka

MIB = 1024 * 1024
HUGE_INT = b'{"id":"x","text":"t","priority":' + b"1" * 5001 + b"}"
DEEP = b"[" * 50_000 + b"]" * 50_000


def _near_max(size: int) -> bytes:
    head, tail = b'{"id":"big","text":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def _publish_to(
    settings: Settings, partition: int, records: Iterable[tuple[bytes, bytes]]
) -> list[Coord]:
    await ensure_topics(settings.kafka)
    coords = []
    async with KafkaSink(settings.kafka) as sink:
        for key, value in records:
            delivered = await sink.send_and_wait(
                settings.kafka.topics.input, value, key=key, partition=partition
            )
            coords.append((delivered.partition, delivered.offset))
    return coords


async def test_poison_records_dead_letter_and_other_partitions_still_get_results(
    settings_factory: SettingsFactory,
) -> None:
    """A 5,001-digit integer, 50,000-deep nesting, a record 200 B under max_request_size and
    one over it (sent by a producer that allows it) each end as one DLQ record; the
    oversized ones are cut and say so, with the original size and hash."""
    settings = settings_factory({"kafka.topics.partitions": 3, "processing.commit_interval_s": 0.2})
    roomy = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"max_request_size": 2 * MIB})}
    )
    poison = {
        b"huge-int": HUGE_INT,
        b"deep": DEEP,
        b"near-max": _near_max(MIB - 200),
        b"over-max": _near_max(MIB + MIB // 2),
    }
    poison_coords = await _publish_to(roomy, 0, poison.items())
    valid_coords = await _publish_to(settings, 1, [doc(f"ok{i}") for i in range(5)])
    valid_coords += await _publish_to(settings, 2, [doc(f"ok{i}") for i in range(5, 10)])

    report = await run_worker(settings, stop=StopPolicy(until_idle_s=1.0), client=ScriptedClaude())

    assert report.exit_code == 0
    books = await account(settings)
    assert books.outcomes() == {c: 1 for c in poison_coords + valid_coords}
    assert set(books.results) == set(valid_coords)
    by_key = {r.key: r for r in books.dlq_records}
    assert set(by_key) == set(poison)
    assert header(by_key[b"huge-int"], "docstream.error.class") == "invalid_json"
    assert header(by_key[b"deep"], "docstream.error.class") == "too_deep"
    for key in (b"huge-int", b"deep"):
        assert by_key[key].value == poison[key]
        assert header(by_key[key], "docstream.original.truncated") is None
    for key in (b"near-max", b"over-max"):
        record, original = by_key[key], poison[key]
        assert header(record, "docstream.error.class") == "too_large"
        assert header(record, "docstream.original.truncated") == "value"
        assert header(record, "docstream.original.size") == str(len(original))
        assert header(record, "docstream.original.sha256") == hashlib.sha256(original).hexdigest()
        assert record.value and original.startswith(record.value)
        size = len(record.value) + sum(len(k) + len(v) for k, v in record.headers)
        assert size <= settings.kafka.max_request_size
