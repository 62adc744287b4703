"""Publishing and verification helpers for worker tests against the real broker."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from stream.config import Settings
from stream.kafka.admin import ensure_topics
from stream.kafka.group import committed_offsets
from stream.kafka.producer import KafkaSink
from stream.kafka.reader import read_topic
from stream.models import HEADER_PREFIX
from stream.ports import RawRecord

Coord = tuple[int, int]  # (partition, offset) on the input topic


async def publish(settings: Settings, records: Iterable[tuple[bytes | None, bytes]]) -> list[Coord]:
    """Create the topics, send (key, value) records, return their input coordinates."""
    await ensure_topics(settings.kafka)
    coords = []
    async with KafkaSink(settings.kafka) as sink:
        futures = [
            await sink.send(settings.kafka.topics.input, value, key=key) for key, value in records
        ]
        for future in futures:
            delivered = await future
            coords.append((delivered.partition, delivered.offset))
    return coords


def doc(doc_id: str, text: str = "hello", **extra: object) -> tuple[bytes, bytes]:
    return doc_id.encode(), json.dumps({"id": doc_id, "text": text, **extra}).encode()


async def read_all(settings: Settings, topic: str) -> list[RawRecord]:
    return [r async for r in read_topic(settings.kafka, topic, from_beginning=True, follow=False)]


def header(record: RawRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode()
    return None


@dataclass
class Accounting:
    results: Counter[Coord]
    dead: Counter[Coord]
    dlq_records: list[RawRecord]
    result_values: list[dict[str, object]]

    def outcomes(self) -> Counter[Coord]:
        return self.results + self.dead


async def account(settings: Settings) -> Accounting:
    """Join results and DLQ records back to the input coordinates they came from."""
    results: Counter[Coord] = Counter()
    values = []
    for record in await read_all(settings, settings.kafka.topics.results):
        value = json.loads(record.value or b"{}")
        values.append(value)
        results[(value["source"]["partition"], value["source"]["offset"])] += 1
    dead: Counter[Coord] = Counter()
    dlq = await read_all(settings, settings.kafka.topics.dlq)
    for record in dlq:
        partition = header(record, HEADER_PREFIX + "original.partition")
        offset = header(record, HEADER_PREFIX + "original.offset")
        assert partition is not None and offset is not None
        dead[(int(partition), int(offset))] += 1
    return Accounting(results, dead, dlq, values)


async def committed(settings: Settings) -> dict[int, int]:
    return await committed_offsets(
        settings.kafka, settings.kafka.group_id, settings.kafka.topics.input
    )
