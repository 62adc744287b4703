"""The worker's dedup store: the index in memory, Kafka (a compacted topic) behind it.

At start the worker reads the topic (``kafka.topics.dedup``) and keeps, per key, only
the record's position and time (entries older than the horizon are skipped); a hit
fetches that one record back. Every new result is put in the index with its outputs,
written to the topic (key = the hex dedup key, value = ``{"document_id", "outputs"}``,
``outputs`` being the ``CompletedStages`` JSON), and, once the broker has acknowledged
it, kept only as its position. Compaction keeps the newest record per key. A failed
write or fetch is logged and costs only a duplicate's calls: it never fails a document.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from stream.dedup.index import DedupIndex, StoredOutputs, dedup_key, split_position
from stream.models import Document
from stream.pipeline import Pipeline
from stream.ports import RawRecord

__all__ = ["DedupStore", "Fetch", "Publish", "Written"]

log = logging.getLogger(__name__)

Written = Callable[[int, int], None]  # (partition, offset) once acknowledged
Publish = Callable[[bytes, bytes, Written], Awaitable[None]]  # (key, value, on ack)
Fetch = Callable[[int, int], Awaitable[RawRecord | None]]  # (partition, offset)


class DedupStore:
    def __init__(
        self, index: DedupIndex, publish: Publish | None = None, fetch: Fetch | None = None
    ) -> None:
        self.index = index
        self._publish = publish
        self._fetch = fetch

    async def lookup(self, pipeline: Pipeline, doc: Document) -> tuple[bytes, StoredOutputs | None]:
        key = dedup_key(pipeline, doc)
        found = self.index.get(key)
        if isinstance(found, int):
            return key, await self._fetched(key, found)
        return key, found

    async def remember(self, key: bytes, document_id: str, outputs: str, now: float) -> None:
        self.index.put(key, StoredOutputs(document_id, outputs.encode(), now))
        if self._publish is None:
            return
        value = json.dumps({"document_id": document_id, "outputs": outputs}).encode()

        def written(partition: int, offset: int) -> None:
            self.index.put_position(key, now, partition, offset)

        try:
            await self._publish(key.hex().encode(), value, written)
        except Exception as exc:  # only a cost: the next duplicate is called again
            log.warning("dedup entry not written (%s): a later duplicate will be called", exc)

    def load(self, record: RawRecord) -> None:
        """One record of the topic, read back at start: its position, not its value."""
        try:
            key = bytes.fromhex((record.key or b"").decode())
        except ValueError:
            log.warning("skipping a dedup record with a malformed key at offset %d", record.offset)
            return
        self.index.put_position(key, record.timestamp / 1000, record.partition, record.offset)

    async def _fetched(self, key: bytes, position: int) -> StoredOutputs | None:
        if self._fetch is None:
            return None
        partition, offset = split_position(position)
        try:
            record = await self._fetch(partition, offset)
        except Exception as exc:
            log.warning("dedup record not read back (%s): the document is processed", exc)
            return None
        if record is None or record.key != key.hex().encode():
            return None  # compacted away (a newer one replaced it) or gone: process it
        try:
            value = json.loads(record.value or b"")
            return StoredOutputs(
                str(value["document_id"]), str(value["outputs"]).encode(), record.timestamp / 1000
            )
        except (ValueError, KeyError, TypeError):
            log.warning(
                "malformed dedup record at %d/%d: the document is processed", partition, offset
            )
            return None
