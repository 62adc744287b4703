"""Dedup: documents already processed by the same pipeline version get the stored result."""

from __future__ import annotations

from stream.dedup.index import DedupIndex, StoredOutputs, dedup_key

__all__ = ["DedupIndex", "StoredOutputs", "dedup_key"]
