"""Reading single records by position (the dedup store's hits), without a group."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.config import KafkaSettings
from stream.kafka.client_config import common_kwargs
from stream.kafka.connect import start_client
from stream.kafka.reader import to_raw
from stream.ports import RawRecord

__all__ = ["RecordFetcher"]


class RecordFetcher:
    """``fetch(partition, offset)`` -> that record of ``topic`` (or the next one, if it was
    compacted away; None if there is none). One consumer, one fetch at a time."""

    def __init__(self, kafka: KafkaSettings, topic: str, *, timeout_s: float = 5.0) -> None:
        self._kafka = kafka
        self._topic = topic
        self._timeout_ms = int(timeout_s * 1000)
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            enable_auto_commit=False, fetch_max_wait_ms=100, **common_kwargs(self._kafka)
        )
        await start_client(self._kafka, consumer.start, consumer.stop)
        await asyncio.sleep(0)  # let the no-group coordinator start (see stream.kafka.reader)
        self._consumer = consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def fetch(self, partition: int, offset: int) -> RawRecord | None:
        if self._consumer is None:
            raise RuntimeError("RecordFetcher.start() first")
        tp = TopicPartition(self._topic, partition)
        async with self._lock:
            self._consumer.assign([tp])
            self._consumer.seek(tp, offset)
            batches = await self._consumer.getmany(tp, timeout_ms=self._timeout_ms, max_records=1)
        messages = batches.get(tp, [])
        return to_raw(tp, messages[0]) if messages else None
