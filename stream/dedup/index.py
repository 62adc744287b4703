"""The dedup key and the in-memory index of stored outputs, with a horizon.

The key is a SHA-256 digest of the pipeline version and of everything the pipeline's
templates read from the document: its text always, its id and metadata values only when
a template uses them. Two documents with the same key would send the same prompts, so
they get the same outputs; the second one gets the stored outputs instead of new calls.

An entry older than the horizon is not used: the document is processed again and its
new outputs replace the entry. ``max_entries`` bounds memory: past it the oldest entry
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

__all__ = ["DedupIndex", "StoredOutputs", "dedup_key"]


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
    """Key -> stored outputs, newest last; entries past ``horizon_s`` are ignored."""

    def __init__(
        self, horizon_s: float, clock: Callable[[], float], max_entries: int = 1_000_000
    ) -> None:
        self.horizon_s = horizon_s
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[bytes, StoredOutputs] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> StoredOutputs | None:
        found = self._entries.get(key)
        if found is not None and self._clock() - found.stored_at <= self.horizon_s:
            self.hits += 1
            return found
        self.misses += 1
        return None

    def put(self, key: bytes, stored: StoredOutputs) -> None:
        """Remember ``stored`` (an older one is replaced); drop the oldest past the cap."""
        if self._clock() - stored.stored_at > self.horizon_s:
            return  # loaded from Kafka but already past the horizon
        self._entries[key] = stored
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
