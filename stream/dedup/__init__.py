"""Dedup: documents already processed by the same pipeline version get the stored result."""

from __future__ import annotations

from stream.dedup.index import DedupIndex, StoredOutputs, dedup_key
from stream.dedup.store import DedupStore

__all__ = ["DedupIndex", "DedupStore", "StoredOutputs", "dedup_key"]
