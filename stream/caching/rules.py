"""How long a cache entry lives and how long a prefix must be to be cached at all.

A breakpoint on a prefix shorter than the model's minimum is not an error at the API: the
prefix is simply not cached (no write, no read). docstream does not place such a
breakpoint, and the simulator does not cache such a prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

__all__ = ["CACHE_TTL_S", "MIN_CACHEABLE_TOKENS", "Ttl", "min_cacheable_tokens"]

Ttl = Literal["5m", "1h"]

# Seconds a cache entry lives after its last write or read (a read refreshes it).
CACHE_TTL_S: Final[Mapping[Ttl, float]] = MappingProxyType({"5m": 300.0, "1h": 3600.0})

# Minimum cacheable prompt length in tokens, by the longest model-name prefix
# (Anthropic's prompt-caching guide, 2026-12).
MIN_CACHEABLE_TOKENS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "claude-opus-4-6": 4096,
        "claude-opus-4-5": 4096,
        "claude-haiku-4-5": 4096,
        "claude-sonnet-4-6": 2048,
        "claude-3-5-haiku": 2048,
        "claude-3-haiku": 2048,
        "claude-opus-4": 1024,  # Opus 4 and 4.1
        "claude-sonnet-4": 1024,  # Sonnet 4 and 4.5
        "claude-3-7-sonnet": 1024,
    }
)
# An unknown model gets the largest known minimum: a breakpoint is then never placed
# where it might not be cached.
_UNKNOWN_MINIMUM: Final = max(MIN_CACHEABLE_TOKENS.values())


def min_cacheable_tokens(model: str) -> int:
    """The minimum cacheable prefix of ``model``, in tokens."""
    best = ""
    for key in MIN_CACHEABLE_TOKENS:
        if model.startswith(key) and len(key) > len(best):
            best = key
    return MIN_CACHEABLE_TOKENS[best] if best else _UNKNOWN_MINIMUM
