"""Opening the worker's dedup store on its compacted Kafka topic (through stream.kafka)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from stream.config import Settings
from stream.dedup.index import DedupIndex
from stream.dedup.store import DedupStore, Written
from stream.kafka.admin import ensure_compacted_topic
from stream.kafka.fetch import RecordFetcher
from stream.kafka.producer import Delivered, KafkaSink
from stream.kafka.reader import read_topic

__all__ = ["open_dedup_store"]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_dedup_store(settings: Settings, sink: KafkaSink) -> AsyncIterator[DedupStore]:
    """Create the topic if needed (compacted), index it (positions only, within the
    horizon), write through ``sink`` and read hits back with a fetcher it owns."""
    kafka, processing = settings.kafka, settings.processing
    topic = kafka.topics.dedup
    await ensure_compacted_topic(kafka, topic)
    index = DedupIndex(processing.dedup_horizon_s, time.time, processing.dedup_max_entries)

    async def publish(key: bytes, value: bytes, written: Written) -> None:
        future = await sink.send(topic, value, key=key)
        future.add_done_callback(lambda done: _acknowledged(done, written))

    fetcher = RecordFetcher(kafka, topic)
    await fetcher.start()
    try:
        store = DedupStore(index, publish, fetcher.fetch)
        async for record in read_topic(kafka, topic):
            store.load(record)
        log.info("dedup: %d stored results within the horizon in %s", len(index), topic)
        yield store
    finally:
        await fetcher.stop()


def _acknowledged(future: asyncio.Future[Delivered], written: Written) -> None:
    """Not awaited by the document: its result does not wait for the dedup write."""
    if future.cancelled():
        return
    if future.exception() is not None:
        log.warning("dedup entry not acknowledged (%s)", future.exception())
        return
    delivered = future.result()
    written(delivered.partition, delivered.offset)
