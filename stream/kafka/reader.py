"""Reading a topic without a consumer group (``docstream results``, DLQ tooling, tests).

All partitions are assigned directly, so nothing joins a group, nothing is committed and
a running worker is not disturbed. Without ``follow`` the read stops at a snapshot of
each partition's *highwater* mark, taken from the first Fetch response for that
partition. Highwater, not ``end_offsets()``/``seek_to_end()``: those use ListOffsets,
which Tansu answers with the base offset of the newest batch + 1 (design.md section 3);
the Fetch response's highwater is right on every broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stream.config import KafkaSettings
from stream.errors import DocstreamError
from stream.kafka.client_config import common_kwargs, fetch_wait_ms
from stream.kafka.connect import start_client
from stream.ports import RawRecord

__all__ = ["KafkaReadError", "raw_records", "read_topic", "to_raw"]


def to_raw(tp: TopicPartition, message: ConsumerRecord[bytes, bytes]) -> RawRecord:
    """An aiokafka record as our own value: bytes untouched, headers as a tuple."""
    return RawRecord(
        tp.topic,
        tp.partition,
        message.offset,
        message.timestamp,
        message.key,
        message.value,
        tuple(message.headers or ()),
    )


def raw_records(
    batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
) -> list[RawRecord]:
    """Flatten a ``getmany`` result, partition by partition, in offset order."""
    return [to_raw(tp, m) for tp, messages in batches.items() for m in messages]


class KafkaReadError(DocstreamError):
    """A snapshot read stopped making progress before it reached the highwater marks."""


async def read_topic(
    kafka: KafkaSettings,
    topic: str,
    *,
    from_beginning: bool = True,
    follow: bool = False,
    idle_timeout_s: float | None = None,
    poll_timeout_s: float = 0.5,
    on_ready: Callable[[], None] | None = None,
) -> AsyncIterator[RawRecord]:
    """Yield the topic's records, partition by partition in offset order.

    ``from_beginning=False`` starts at the highwater marks (only new records; useful with
    ``follow``). ``idle_timeout_s``: with ``follow``, stop after that long without a new
    record; without it, raise KafkaReadError if the snapshot stalls that long. A topic
    that does not exist yields nothing. ``on_ready`` is called once the reader is
    positioned (e.g. to print "waiting for new records"; tests use it to avoid a race).
    """
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # A snapshot read ends with one empty Fetch per partition; don't wait 500 ms on it.
        fetch_max_wait_ms=fetch_wait_ms(kafka) if follow else 100,
        **common_kwargs(kafka),
    )
    await start_client(kafka, consumer.start, consumer.stop)
    # Let aiokafka's no-group coordinator task start: stopping before it ever ran makes
    # consumer.stop() raise CancelledError (aiokafka 0.14, NoGroupCoordinator.close).
    await asyncio.sleep(0)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        if not from_beginning:
            for tp, highwater in (await _highwaters(consumer, tps, poll_timeout_s)).items():
                consumer.seek(tp, highwater)
        if on_ready is not None:
            on_ready()
        reading = _Snapshot(consumer, tps, follow, idle_timeout_s, poll_timeout_s)
        async for record in reading.records():
            yield record
    finally:
        await consumer.stop()


async def _highwaters(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], poll_timeout_s: float
) -> dict[TopicPartition, int]:
    """Fetch until every partition reported its highwater (records fetched are dropped)."""
    while any(consumer.highwater(tp) is None for tp in tps):
        await consumer.getmany(timeout_ms=int(poll_timeout_s * 1000), max_records=1)
    return {tp: int(consumer.highwater(tp)) for tp in tps}


class _Snapshot:
    """The read loop: targets are learned per partition, done partitions are paused."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        tps: list[TopicPartition],
        follow: bool,
        idle_timeout_s: float | None,
        poll_timeout_s: float,
    ) -> None:
        self._consumer = consumer
        self._tps = tps
        self._follow = follow
        self._idle_timeout_s = idle_timeout_s
        self._poll_ms = int(poll_timeout_s * 1000)
        self._targets: dict[TopicPartition, int] = {}
        self._done: set[TopicPartition] = set()

    async def records(self) -> AsyncIterator[RawRecord]:
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        while self._follow or len(self._done) < len(self._tps):
            batches = await self._consumer.getmany(timeout_ms=self._poll_ms)
            if not self._follow:
                self._learn_targets()
            for tp, messages in batches.items():
                target = self._targets.get(tp)
                for m in messages:
                    if target is not None and m.offset >= target:
                        break
                    last_progress = loop.time()
                    yield to_raw(tp, m)
            if not self._follow:
                await self._mark_done()
            if (
                self._idle_timeout_s is not None
                and loop.time() - last_progress >= self._idle_timeout_s
            ):
                if self._follow:
                    return
                raise KafkaReadError(self._stall_message())

    def _learn_targets(self) -> None:
        for tp in self._tps:
            if tp not in self._targets and (highwater := self._consumer.highwater(tp)) is not None:
                self._targets[tp] = int(highwater)

    async def _mark_done(self) -> None:
        for tp, target in self._targets.items():
            if tp not in self._done and await self._consumer.position(tp) >= target:
                self._done.add(tp)
                self._consumer.pause(tp)

    def _stall_message(self) -> str:
        pending = sorted(
            f"{tp.partition}(target {self._targets.get(tp, '?')})"
            for tp in self._tps
            if tp not in self._done
        )
        return (
            f"reading {self._tps[0].topic}: no progress for {self._idle_timeout_s:g} s; "
            f"partitions not finished: {', '.join(pending)}"
        )
