"""The dedup key and the in-memory index of stored outputs, with a horizon.

The key is a SHA-256 digest of the pipeline version and of everything the pipeline's
templates read from the document: its text always, its id and metadata values only when
a template uses them. Two documents with the same key would send the same prompts, so
they get the same outputs; the second one gets the stored outputs instead of new calls.

The index keeps, per key, the time it was stored and where the outputs are (see
``DedupIndex``). An entry older than the horizon is not used: the document is processed
again and its new outputs replace the entry. ``max_entries`` bounds memory: past it the oldest entry
is dropped (a later duplicate of it is then processed again, which is only a cost).
Time comes from the injected clock (wall seconds: entries are compared with record
timestamps when the index is loaded back from Kafka).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stream.models import Document
from stream.pipeline import Pipeline

__all__ = ["DedupIndex", "StoredOutputs", "dedup_key", "split_position"]


@dataclass(frozen=True, slots=True)
class StoredOutputs:
    """What a duplicate gets: the original document's id and its outputs (a
    ``CompletedStages`` JSON document, bytes as stored)."""

    document_id: str
    outputs: bytes
    stored_at: float  # wall seconds


def dedup_key(pipeline: Pipeline, doc: Document) -> bytes:
    """16 bytes identifying (pipeline version, what the templates read from ``doc``)."""
    digest = hashlib.sha256(pipeline.version.encode())
    digest.update(b"\0" + doc.text.encode("utf-8", "surrogatepass"))
    if pipeline.reads_id:
        digest.update(b"\0id\0" + doc.id.encode())
    metadata = doc.metadata or {}
    for key in sorted(pipeline.reads_metadata):
        value = json.dumps(metadata.get(key), sort_keys=True, default=str)
        digest.update(b"\0m\0" + key.encode() + b"\0" + value.encode())
    return digest.digest()[:16]


class DedupIndex:
    """Key -> where the stored outputs are, newest last; entries past ``horizon_s`` are
    ignored. An entry holds the outputs themselves (``StoredOutputs``: before the store
    has written them to Kafka, or with no Kafka at all) or only their position in the
    store's topic (``partition << 48 | offset``), which is what keeps memory small."""

    def __init__(
        self, horizon_s: float, clock: Callable[[], float], max_entries: int = 1_000_000
    ) -> None:
        self.horizon_s = horizon_s
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[bytes, tuple[float, StoredOutputs | int]] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> StoredOutputs | int | None:
        found = self._entries.get(key)
        if found is not None and self._clock() - found[0] <= self.horizon_s:
            self.hits += 1
            return found[1]
        self.misses += 1
        return None

    def put(self, key: bytes, stored: StoredOutputs) -> None:
        """Remember ``stored`` (an older entry is replaced); drop the oldest past the cap."""
        self._put(key, stored.stored_at, stored)

    def put_position(self, key: bytes, stored_at: float, partition: int, offset: int) -> None:
        """Remember where the outputs are in the store's topic (replacing them in memory)."""
        self._put(key, stored_at, partition << 48 | offset)

    def _put(self, key: bytes, stored_at: float, ref: StoredOutputs | int) -> None:
        if self._clock() - stored_at > self.horizon_s:
            return  # loaded from Kafka but already past the horizon
        self._entries[key] = (stored_at, ref)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def split_position(position: int) -> tuple[int, int]:
    """(partition, offset) of a position from ``put_position``."""
    return position >> 48, position & ((1 << 48) - 1)
