"""Cost of a call from its usage and the configured price table, and a cheap token estimate.

Prices are USD per million tokens (``stream.config.ModelPrice``). A model name matches
the longest price-table key it starts with, so ``claude-sonnet-4-5-20250929`` is priced
by ``claude-sonnet-4`` unless a more specific key exists. Prompt-cache writes cost 1.25x
the input price and cache reads 0.1x, Anthropic's list multipliers for 5-minute cache
entries, unless the table gives its own ``cache_write`` / ``cache_read`` price.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

from stream.config import ModelPrice
from stream.models.result import Usage

__all__ = [
    "CACHE_READ_MULTIPLIER",
    "CACHE_WRITE_MULTIPLIER",
    "cost_usd",
    "estimate_input_tokens",
    "price_for",
]

CACHE_WRITE_MULTIPLIER = Decimal("1.25")
CACHE_READ_MULTIPLIER = Decimal("0.1")
_PER_TOKEN = Decimal(1_000_000)
_CHARS_PER_TOKEN = 4

_log = logging.getLogger(__name__)
_warned: set[str] = set()


def price_for(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The price of the longest table key that ``model`` starts with, or None."""
    best: str | None = None
    for key in prices:
        if model.startswith(key) and (best is None or len(key) > len(best)):
            best = key
    return prices[best] if best is not None else None


def cost_usd(model: str, usage: Usage, prices: Mapping[str, ModelPrice]) -> float:
    """USD estimate of one call (or a sum of calls on one model).

    An unknown model costs 0.0 and logs one warning per model name, so a missing price
    shows up once in the logs instead of failing documents or flooding the log.
    """
    price = price_for(model, prices)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            _log.warning("no price for model %r: its cost is reported as 0.0", model)
        return 0.0
    cache_write = (
        price.cache_write if price.cache_write is not None else price.input * CACHE_WRITE_MULTIPLIER
    )
    cache_read = (
        price.cache_read if price.cache_read is not None else price.input * CACHE_READ_MULTIPLIER
    )
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * cache_write
        + usage.cache_read_input_tokens * cache_read
    )
    return float(total / _PER_TOKEN)


def estimate_input_tokens(system: str, user: str) -> int:
    """About how many input tokens a request costs: characters / 4, rounded up.

    An estimate for pacing only (token buckets reserve it before a call and reconcile
    with the real ``usage`` after); ``ClaudeClient.count_tokens`` gives the API's count.
    """
    chars = len(system) + len(user)
    return -(-chars // _CHARS_PER_TOKEN)
