"""The worker's dedup store: the index in memory, Kafka (a compacted topic) behind it.

At start the worker reads the topic (``kafka.topics.dedup``) into the index, skipping
entries older than the horizon; every new result is put in the index and written to the
topic, key = the hex dedup key, value = ``{"document_id", "outputs"}`` (``outputs``: the
``CompletedStages`` JSON). Compaction keeps the newest record per key. A write that
fails is logged and costs only a later duplicate's calls: it never fails the document.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from stream.dedup.index import DedupIndex, StoredOutputs, dedup_key
from stream.models import Document
from stream.pipeline import Pipeline
from stream.ports import RawRecord

__all__ = ["DedupStore", "Publish"]

log = logging.getLogger(__name__)

Publish = Callable[[bytes, bytes], Awaitable[None]]  # (key, value) -> written


class DedupStore:
    def __init__(self, index: DedupIndex, publish: Publish | None = None) -> None:
        self.index = index
        self._publish = publish

    def lookup(self, pipeline: Pipeline, doc: Document) -> tuple[bytes, StoredOutputs | None]:
        key = dedup_key(pipeline, doc)
        return key, self.index.get(key)

    async def remember(self, key: bytes, document_id: str, outputs: str, now: float) -> None:
        self.index.put(key, StoredOutputs(document_id, outputs.encode(), now))
        if self._publish is None:
            return
        value = json.dumps({"document_id": document_id, "outputs": outputs}).encode()
        try:
            await self._publish(key.hex().encode(), value)
        except Exception as exc:  # only a cost: the next duplicate is called again
            log.warning("dedup entry not written (%s): a later duplicate will be called", exc)

    def load(self, record: RawRecord) -> None:
        """One record of the topic, read back at start (malformed ones are skipped)."""
        try:
            key = bytes.fromhex((record.key or b"").decode())
            value = json.loads(record.value or b"")
            stored = StoredOutputs(
                str(value["document_id"]), str(value["outputs"]).encode(), record.timestamp / 1000
            )
        except (ValueError, KeyError, TypeError):
            log.warning("skipping a malformed dedup record at offset %d", record.offset)
            return
        self.index.put(key, stored)
