"""Prompt caching: the per-model rules (one table) and the request layout that uses them.

Imports nothing heavy, so the simulator (which models the cache) and the pipeline (which
places the breakpoints) read the same table.
"""

from __future__ import annotations

from stream.caching.rules import (
    CACHE_MODES,
    CACHE_TTL_S,
    MIN_CACHEABLE_TOKENS,
    CacheMode,
    Ttl,
    min_cacheable_tokens,
    pays_back,
)

__all__ = [
    "CACHE_MODES",
    "CACHE_TTL_S",
    "MIN_CACHEABLE_TOKENS",
    "CacheMode",
    "Ttl",
    "min_cacheable_tokens",
    "pays_back",
]
