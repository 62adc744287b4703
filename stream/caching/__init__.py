"""Prompt caching: the per-model rules (one table) and the request layout that uses them.

Imports nothing heavy, so the simulator (which models the cache) and the pipeline (which
places the breakpoints) read the same table.
"""

from __future__ import annotations

from stream.caching.rules import CACHE_TTL_S, MIN_CACHEABLE_TOKENS, min_cacheable_tokens

__all__ = ["CACHE_TTL_S", "MIN_CACHEABLE_TOKENS", "min_cacheable_tokens"]
