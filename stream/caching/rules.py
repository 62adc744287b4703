"""How long a cache entry lives and how long a prefix must be to be cached at all.

A breakpoint on a prefix shorter than the model's minimum is not an error at the API: the
prefix is simply not cached (no write, no read). docstream does not place such a
breakpoint, and the simulator does not cache such a prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "CACHE_MODES",
    "CACHE_READ_MULTIPLIER",
    "CACHE_TTL_S",
    "CACHE_WRITE_MULTIPLIERS",
    "MIN_CACHEABLE_TOKENS",
    "CacheMode",
    "Ttl",
    "min_cacheable_tokens",
    "pays_back",
]

Ttl = Literal["5m", "1h"]
CacheMode = Literal["auto", "off", "1h"]

# A pipeline's `cache:` setting -> the lifetime of the entries it writes (None: no
# breakpoints at all).
CACHE_MODES: Final[Mapping[CacheMode, Ttl | None]] = MappingProxyType(
    {"auto": "5m", "1h": "1h", "off": None}
)

# Anthropic's list multipliers on the input price: a write costs more than plain input
# (1.25x for 5 minutes, 2x for an hour), a read a tenth.
CACHE_WRITE_MULTIPLIERS: Final[Mapping[Ttl, Decimal]] = MappingProxyType(
    {"5m": Decimal("1.25"), "1h": Decimal(2)}
)
CACHE_READ_MULTIPLIER: Final = Decimal("0.1")

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


def pays_back(ttl: Ttl, requests: int) -> bool:
    """Whether ``requests`` calls sharing a prefix pay less with a breakpoint on it (one
    write, the rest reads) than without (every call plain input): 2 for 5m, 3 for 1h."""
    cached = CACHE_WRITE_MULTIPLIERS[ttl] + (requests - 1) * CACHE_READ_MULTIPLIER
    return cached < requests
