"""Cost of a call from its usage and the configured price table, and a cheap token estimate.

Prices are USD per million tokens (``stream.config.ModelPrice``). A model name matches
the longest price-table key it starts with, so ``claude-sonnet-4-5-20250929`` is priced
by ``claude-sonnet-4`` unless a more specific key exists. Every token kind has its own
price: input, output, cache writes that live 5 minutes (1.25x input) or 1 hour (2x),
and cache reads (0.1x): Anthropic's list multipliers, used when the table gives no
``cache_write`` / ``cache_write_1h`` / ``cache_read`` price of its own.

The cost of an attempt is computed once, where the attempt is observed
(``stream.calls``), and carried as a ``Cost``; stages, documents, metrics and the run
summary add those up instead of pricing usage again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal

from stream.caching.rules import CACHE_READ_MULTIPLIER, CACHE_WRITE_MULTIPLIERS
from stream.config import ModelPrice
from stream.models.result import CostBreakdown, Usage

__all__ = [
    "CACHE_READ_MULTIPLIER",
    "CACHE_WRITE_1H_MULTIPLIER",
    "CACHE_WRITE_MULTIPLIER",
    "Cost",
    "cost_of",
    "cost_usd",
    "estimate_input_tokens",
    "price_for",
]

CACHE_WRITE_MULTIPLIER = CACHE_WRITE_MULTIPLIERS["5m"]
CACHE_WRITE_1H_MULTIPLIER = CACHE_WRITE_MULTIPLIERS["1h"]
_PER_TOKEN = Decimal(1_000_000)
_CHARS_PER_TOKEN = 4
_ZERO = Decimal(0)

_log = logging.getLogger(__name__)
_warned: set[str] = set()


@dataclass(frozen=True, slots=True)
class Cost:
    """USD by token kind (exact decimals; rounded only on the wire)."""

    input: Decimal = _ZERO
    output: Decimal = _ZERO
    cache_write_5m: Decimal = _ZERO
    cache_write_1h: Decimal = _ZERO
    cache_read: Decimal = _ZERO

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def total(self) -> Decimal:
        return sum((getattr(self, f.name) for f in fields(self)), _ZERO)

    def kinds(self) -> dict[str, Decimal]:
        """Kind name -> USD, for metrics attributes and summaries."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def breakdown(self) -> CostBreakdown:
        """The wire form, rounded to 1e-8 USD."""
        return CostBreakdown(**{f"{k}_usd": round(float(v), 8) for k, v in self.kinds().items()})


def price_for(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The price of the longest table key that ``model`` starts with, or None."""
    best: str | None = None
    for key in prices:
        if model.startswith(key) and (best is None or len(key) > len(best)):
            best = key
    return prices[best] if best is not None else None


def cost_of(model: str, usage: Usage, prices: Mapping[str, ModelPrice]) -> Cost:
    """The cost of one call (or a sum of calls on one model), by token kind.

    An unknown model costs nothing and logs one warning per model name, so a missing
    price shows up once in the logs instead of failing documents or flooding the log.
    """
    price = price_for(model, prices)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            _log.warning("no price for model %r: its cost is reported as 0.0", model)
        return Cost()
    write_5m = _or(price.cache_write, price.input * CACHE_WRITE_MULTIPLIER)
    write_1h = _or(price.cache_write_1h, price.input * CACHE_WRITE_1H_MULTIPLIER)
    read = _or(price.cache_read, price.input * CACHE_READ_MULTIPLIER)
    return Cost(
        input=usage.input_tokens * price.input / _PER_TOKEN,
        output=usage.output_tokens * price.output / _PER_TOKEN,
        cache_write_5m=usage.cache_write_5m_tokens * write_5m / _PER_TOKEN,
        cache_write_1h=usage.cache_write_1h_tokens * write_1h / _PER_TOKEN,
        cache_read=usage.cache_read_input_tokens * read / _PER_TOKEN,
    )


def cost_usd(model: str, usage: Usage, prices: Mapping[str, ModelPrice]) -> float:
    """USD total of ``cost_of``."""
    return float(cost_of(model, usage, prices).total)


def _or(given: Decimal | None, derived: Decimal) -> Decimal:
    return given if given is not None else derived


def estimate_input_tokens(system: str, user: str) -> int:
    """About how many input tokens a request costs: characters / 4, rounded up.

    An estimate for pacing only (token buckets reserve it before a call and reconcile
    with the real ``usage`` after); ``ClaudeClient.count_tokens`` gives the API's count.
    """
    chars = len(system) + len(user)
    return -(-chars // _CHARS_PER_TOKEN)
