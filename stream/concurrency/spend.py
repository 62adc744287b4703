"""A spend budget the calls wait for, like the rate-limit buckets.

``limits.budget_usd_per_hour`` and ``limits.budget_usd_per_day`` are token buckets in
USD: each holds its window's budget and refills continuously at budget / window, so
spend converges smoothly on the budget rate instead of running into a wall (or the
account's spend cap, which pauses the worker) and stopping. Each call *reserves* an
estimate of its price before it is sent (its input estimate at the input price, its
``max_tokens`` at the output price: an upper bound, as for the rate-limit buckets), waiting
on the injected clock while a bucket is short, then *settles* with the real cost once
the answer is priced (a cache read costs a tenth, so settling mostly refunds). A call
priced above a whole bucket waits for a full one and goes into debt. Waiters are served
in arrival order.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stream.concurrency.clock import Clock, sleep_or_event
from stream.concurrency.pacing import TokenBucket

__all__ = ["SPEND_WINDOWS_S", "SpendBudget", "SpendHold", "SpendListener"]

SpendListener = Callable[[str, float, float], None]  # (window, USD left now, budget)

# Budget name -> window in seconds (the bucket refills a full budget over it).
SPEND_WINDOWS_S: Mapping[str, float] = {"hour": 3600.0, "day": 86_400.0}


@dataclass(slots=True)
class SpendHold:
    seq: int
    usd: float
    settled: bool = False


class SpendBudget:
    """USD buckets by window (``SPEND_WINDOWS_S``); no budget, no waiting."""

    def __init__(self, clock: Clock, budgets_usd: Mapping[str, float | None]) -> None:
        self._clock = clock
        self._buckets = {
            name: TokenBucket(usd, usd / SPEND_WINDOWS_S[name], clock)
            for name, usd in budgets_usd.items()
            if usd is not None
        }
        self._seq = itertools.count(1)
        self._lock = asyncio.Lock()  # arrival order
        self._changed = asyncio.Event()
        self.blocked_on: str | None = None  # the window the head waiter waits for
        self._listeners: list[SpendListener] = []

    def add_listener(self, listener: SpendListener) -> None:
        """Told every bucket's level after each reservation and settlement (metrics)."""
        self._listeners.append(listener)
        self._tell()

    def _tell(self) -> None:
        for listener in self._listeners:
            for name, (left, budget) in self.remaining().items():
                listener(name, left, budget)

    @property
    def active(self) -> bool:
        return bool(self._buckets)

    def remaining(self) -> dict[str, tuple[float, float]]:
        """Window -> (USD left in the bucket now, budget), for the panel and the metrics."""
        return {name: (b.level, b.capacity) for name, b in self._buckets.items()}

    async def reserve(self, usd: float) -> SpendHold:
        """Wait until every bucket holds ``usd`` (or is full), then take it."""
        if not self._buckets:
            return SpendHold(next(self._seq), 0.0, settled=True)
        async with self._lock:
            try:
                while True:
                    changed = self._changed
                    waits = {n: b.time_until(usd) for n, b in self._buckets.items()}
                    name = max(waits, key=waits.__getitem__)
                    if waits[name] <= 0:
                        break
                    self.blocked_on = f"spend budget per {name}"
                    await sleep_or_event(self._clock, waits[name], changed)
            finally:
                self.blocked_on = None
            for bucket in self._buckets.values():
                bucket.debit(usd)
        self._tell()
        return SpendHold(next(self._seq), usd)

    def settle(self, hold: SpendHold, usd: float) -> None:
        """Replace the estimate by what the call cost (0 when it was not billed)."""
        if hold.settled:
            return
        hold.settled = True
        for bucket in self._buckets.values():
            bucket.credit(hold.usd - usd)
        self._tell()
        self._changed.set()
        self._changed = asyncio.Event()
