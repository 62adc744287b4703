"""Reading a topic without a consumer group: from the start (or the end), up to a
snapshot of the highwater marks, or following new records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.config import KafkaSettings
from stream.kafka.client_config import common_kwargs

__all__ = ["RawRecord", "read_topic"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int  # ms since the epoch
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


async def read_topic(
    kafka: KafkaSettings,
    topic: str,
    *,
    from_beginning: bool = True,
    follow: bool = False,
    poll_timeout_s: float = 0.5,
) -> AsyncIterator[RawRecord]:
    """Yield the topic's records. Without ``follow`` it stops at the highwater marks seen
    when it starts. Uses fetch-based highwater: Tansu's end_offsets is wrong."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, auto_offset_reset="earliest", **common_kwargs(kafka)
    )
    await consumer.start()
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or set())
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        targets = await _highwaters(consumer, tps)
        if not from_beginning:
            for tp in tps:
                consumer.seek(tp, targets[tp])
        async for record in _records(consumer, tps, targets, follow, poll_timeout_s):
            yield record
    finally:
        await consumer.stop()


async def _highwaters(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """One fetch per partition fills ``highwater``; an empty partition reports 0."""
    await consumer.getmany(*tps, timeout_ms=500, max_records=1)
    for tp in tps:
        consumer.seek(tp, 0)
    return {tp: int(consumer.highwater(tp) or 0) for tp in tps}


async def _records(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    targets: dict[TopicPartition, int],
    follow: bool,
    poll_timeout_s: float,
) -> AsyncIterator[RawRecord]:
    remaining = {tp for tp in tps if targets[tp] > 0} if not follow else set(tps)
    while follow or remaining:
        batches = await consumer.getmany(timeout_ms=int(poll_timeout_s * 1000))
        for tp, records in batches.items():
            for r in records:
                yield RawRecord(
                    tp.topic,
                    tp.partition,
                    r.offset,
                    r.timestamp,
                    r.key,
                    r.value,
                    tuple(r.headers or ()),
                )
            if not follow and records and records[-1].offset + 1 >= targets[tp]:
                remaining.discard(tp)
        if not follow:
            for tp in list(remaining):
                if await consumer.position(tp) >= targets[tp]:
                    remaining.discard(tp)
