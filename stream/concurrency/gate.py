"""Retry-after gates: after a 429, every call to that model waits for the server's time.

A 429's ``retry-after`` says earlier retries will fail, so the whole worker honours it
for that key (model), not just the call that got it, and honours it in full even above
60 s (the SDK's own loop ignores such values and retries within seconds). A later,
longer block extends the gate; a shorter one never shortens it. When the gate opens,
each waiter adds a random delay of up to ``jitter`` times the block's length, so the
calls and workers held back together do not hit the server in the same instant.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

from stream.concurrency.clock import Clock, sleep_or_event

__all__ = ["RetryAfterGate"]


@dataclass(frozen=True, slots=True)
class _Block:
    until: float
    length: float


class RetryAfterGate:
    """Per-key "not before" times set by ``block`` and honoured by ``wait``."""

    def __init__(
        self, clock: Clock, *, jitter: float = 0.1, rng: random.Random | None = None
    ) -> None:
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1] (got {jitter})")
        self._clock = clock
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._blocks: dict[str, _Block] = {}
        self._released = asyncio.Event()

    def block(self, key: str, retry_after_s: float) -> None:
        """Hold every call to ``key`` for ``retry_after_s`` from now (extend, never shorten)."""
        if math.isnan(retry_after_s):
            raise ValueError("retry_after_s is NaN")
        length = max(0.0, retry_after_s)
        until = self._clock.now() + length
        current = self._blocks.get(key)
        if current is None or until > current.until:
            self._blocks[key] = _Block(until, length)

    def blocked_until(self, key: str) -> float | None:
        """Clock time the gate for ``key`` opens, or None if it is open."""
        current = self._blocks.get(key)
        if current is None:
            return None
        if current.until <= self._clock.now():
            del self._blocks[key]
            return None
        return current.until

    def release(self) -> None:
        """Shutdown: every waiter, now and later, goes on at once."""
        self._released.set()

    async def wait(self, key: str) -> float:
        """Waits until the gate for ``key`` is open (plus jitter); returns seconds waited."""
        start = self._clock.now()
        while (current := self._blocks.get(key)) is not None and not self._released.is_set():
            now = self._clock.now()
            if now >= current.until:
                if self._blocks.get(key) is current:
                    del self._blocks[key]
                break
            spread = self._rng.uniform(0.0, self._jitter * current.length)
            if await sleep_or_event(self._clock, current.until - now + spread, self._released):
                break
            if self._blocks.get(key) is current:
                break  # not extended while we slept; jitter is already served
        return self._clock.now() - start
