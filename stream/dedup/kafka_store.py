"""Opening the worker's dedup store on its compacted Kafka topic (through stream.kafka)."""

from __future__ import annotations

import asyncio
import logging
import time

from stream.config import Settings
from stream.dedup.index import DedupIndex
from stream.dedup.store import DedupStore
from stream.kafka.admin import ensure_compacted_topic
from stream.kafka.producer import Delivered, KafkaSink
from stream.kafka.reader import read_topic

__all__ = ["open_dedup_store"]

log = logging.getLogger(__name__)


async def open_dedup_store(settings: Settings, sink: KafkaSink) -> DedupStore:
    """Create the topic if needed (compacted), read it into a fresh index, write through
    ``sink``. Entries past the horizon are skipped while loading."""
    kafka, processing = settings.kafka, settings.processing
    topic = kafka.topics.dedup
    await ensure_compacted_topic(kafka, topic)
    index = DedupIndex(processing.dedup_horizon_s, time.time, processing.dedup_max_entries)

    async def publish(key: bytes, value: bytes) -> None:
        future = await sink.send(topic, value, key=key)
        future.add_done_callback(_log_failure)  # not awaited: the result does not wait on it

    store = DedupStore(index, publish)
    async for record in read_topic(kafka, topic):
        store.load(record)
    log.info("dedup: %d stored results within the horizon loaded from %s", len(index), topic)
    return store


def _log_failure(future: asyncio.Future[Delivered]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("dedup entry not acknowledged (%s)", future.exception())
