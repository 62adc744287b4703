"""The books of a scenario run: publish the backlog, then join every output to its input.

A run is only worth its figures if nothing was lost, so both output topics are read back
after the workers exit and joined to the published (partition, offset) pairs. *Lost*
means an offset below the group's committed position with neither a result nor a DLQ
record: a new consumer would never see it again. Offsets at or after the committed
position without an output are not lost (they are redelivered), only unprocessed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from stream.bench.overhead import make_documents
from stream.config import Settings
from stream.kafka.admin import ensure_topics
from stream.kafka.group import committed_offsets
from stream.kafka.producer import KafkaSink, OutRecord
from stream.kafka.reader import read_topic
from stream.models import HEADER_PREFIX

__all__ = ["Coord", "ScenarioAccounting", "account_outputs", "publish_backlog"]

Coord = tuple[int, int]  # (partition, offset) on the input topic


@dataclass(frozen=True, slots=True)
class ScenarioAccounting:
    """Outputs joined back to the published offsets (both topics read back)."""

    inputs: int
    results: int
    dead_letters: int
    lost: int  # offsets below the group's committed position with no output: gone for good
    unprocessed: int  # offsets at/after the committed position with no output: redelivered
    duplicated: int  # offsets with more than one output (at-least-once redelivery)
    unexpected: int  # outputs naming an offset that was never published
    by_worker: dict[str, int] = field(default_factory=dict)  # outputs per worker_id


async def publish_backlog(settings: Settings, count: int) -> set[Coord]:
    """Create the topics and publish ``count`` documents; returns their offsets."""
    await ensure_topics(settings.kafka)
    records = (OutRecord(r.value, r.key, []) for r in make_documents(count))
    async with KafkaSink(settings.kafka) as sink:
        futures = await sink.send_many(settings.kafka.topics.input, records)
        batches = await asyncio.gather(*futures)
    return {
        (b.partition, offset)
        for b in batches
        for offset in range(b.base_offset, b.base_offset + b.count)
    }


async def account_outputs(
    settings: Settings, coords: set[Coord], others: AbstractSet[Coord] = frozenset()
) -> ScenarioAccounting:
    """Read both output topics back and join them to the published offsets; outputs of
    ``others`` (the other jobs of a run on the same topics) are not counted at all."""
    kafka = settings.kafka
    seen: dict[Coord, int] = {}
    by_worker: dict[str, int] = {}
    results = dead = 0
    async for record in read_topic(kafka, kafka.topics.results):
        value = json.loads(record.value or b"{}")
        coord = (int(value["source"]["partition"]), int(value["source"]["offset"]))
        if coord in others:
            continue
        seen[coord] = seen.get(coord, 0) + 1
        by_worker[value["worker_id"]] = by_worker.get(value["worker_id"], 0) + 1
        results += 1
    async for record in read_topic(kafka, kafka.topics.dlq):
        headers = {k: v.decode("utf-8", errors="replace") for k, v in record.headers}
        coord = (
            int(headers.get(HEADER_PREFIX + "original.partition", "-1")),
            int(headers.get(HEADER_PREFIX + "original.offset", "-1")),
        )
        if coord in others:
            continue
        seen[coord] = seen.get(coord, 0) + 1
        worker = headers.get(HEADER_PREFIX + "worker.id", "?")
        by_worker[worker] = by_worker.get(worker, 0) + 1
        dead += 1
    committed = await committed_offsets(kafka, kafka.group_id, kafka.topics.input)
    missing = [c for c in coords if c not in seen]
    return ScenarioAccounting(
        inputs=len(coords),
        results=results,
        dead_letters=dead,
        lost=sum(1 for p, o in missing if o < committed.get(p, 0)),
        unprocessed=sum(1 for p, o in missing if o >= committed.get(p, 0)),
        duplicated=sum(1 for c, n in seen.items() if n > 1 and c in coords),
        unexpected=sum(n for c, n in seen.items() if c not in coords),
        by_worker=by_worker,
    )
