"""The permit pool: at most ``limit`` calls in flight, and callers beyond it wait.

Waiting is the point. When the pool is full ``acquire()`` blocks, the worker stops
taking records, its buffer fills and the Kafka consumer pauses partitions: the
backpressure reaches the broker without any queue growing in memory.

Each ``Permit`` ends in exactly one of ``success()``, ``dropped()`` or ``ignored()``
(Netflix ``Limiter.Listener``): success and dropped feed the ``Limit`` a sample with
the RTT measured from the permit's grant to its release; ignored (the call failed for a
reason that says nothing about congestion, e.g. a 400) only frees the slot.
Waiters are served first come, first served, and a waiter cancelled at any moment never
takes a slot with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncIterator, Callable, Iterable

from stream.concurrency.cap_share import HoldsCap
from stream.concurrency.clock import Clock
from stream.concurrency.limit import Limit
from stream.concurrency.priority import LOWEST, Priority, PriorityQueueOfWaiters

__all__ = ["LimitListener", "Limiter", "Permit", "PermitOutcome"]

LimitListener = Callable[[int, int], None]
"""Called with (old, new) after the limit changed."""


class PermitOutcome(enum.Enum):
    SUCCESS = "success"
    DROPPED = "dropped"
    IGNORED = "ignored"


class Permit:
    """One slot in the pool, from grant to exactly one settlement."""

    __slots__ = ("_inflight", "_limiter", "_outcome", "_overloaded", "_started_at")

    def __init__(self, limiter: Limiter, started_at: float, inflight: int) -> None:
        self._limiter = limiter
        self._started_at = started_at
        self._inflight = inflight
        self._outcome: PermitOutcome | None = None
        self._overloaded = False

    @property
    def started_at(self) -> float:
        """Clock time the slot was granted (waiting time is not part of the RTT)."""
        return self._started_at

    @property
    def inflight(self) -> int:
        """Calls in flight when this one was granted, itself included."""
        return self._inflight

    @property
    def outcome(self) -> PermitOutcome | None:
        return self._outcome

    @property
    def overloaded(self) -> bool:
        """Dropped for concurrency (a 529), not for a rate or a timeout."""
        return self._overloaded

    @property
    def settled(self) -> bool:
        return self._outcome is not None

    def success(self, output_tokens: int | None = None, ttft: float | None = None) -> None:
        """The call completed: its RTT (and token count / TTFT) is a latency sample."""
        self._settle(PermitOutcome.SUCCESS, output_tokens, ttft)

    def dropped(self, *, overloaded: bool = False) -> None:
        """The call was rejected for capacity (429, 529) or timed out: back off.
        ``overloaded``: refused for concurrency (529), so the server admits at most the
        other calls that were in flight with it; the limit may hold just under that."""
        self._overloaded = overloaded
        self._settle(PermitOutcome.DROPPED, None, None)

    def ignored(self) -> None:
        """The call ended without a meaningful measurement: free the slot, no sample."""
        self._settle(PermitOutcome.IGNORED, None, None)

    def _settle(
        self, outcome: PermitOutcome, output_tokens: int | None, ttft: float | None
    ) -> None:
        if self._outcome is not None:
            raise RuntimeError(f"permit already settled as {self._outcome.value}")
        self._outcome = outcome
        self._limiter._release(self, outcome, output_tokens, ttft)

    def __repr__(self) -> str:
        state = self._outcome.value if self._outcome else "open"
        return f"<Permit {state} started_at={self._started_at} inflight={self._inflight}>"


class Limiter:
    """Hands out permits up to ``limit.limit`` at a time, blocking the rest, who are
    served by priority (lowest first; equal priorities in arrival order).

    ``on_change`` listeners get ``(old, new)`` after a sample changed the limit, for
    metrics and logs; they run after the pool has been updated, on the settling task.
    """

    def __init__(
        self, limit: Limit, clock: Clock, *, on_change: Iterable[LimitListener] = ()
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._inflight = 0
        self._waiters = PriorityQueueOfWaiters()
        self.on_change: list[LimitListener] = list(on_change)

    @property
    def limit(self) -> int:
        return self._limit.limit

    @property
    def floor(self) -> int:
        """The lowest value a drop can cut the limit to (the limit's own floor)."""
        return self._limit.floor

    @property
    def inflight(self) -> int:
        return self._inflight

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> Permit | None:
        """A permit if one is free and nobody is queued ahead, else None (never waits)."""
        if self._inflight >= self.limit or self.waiting:
            return None
        return self._grant()

    async def acquire(self, priority: Priority = LOWEST) -> Permit:
        """Waits for a free slot, behind every waiter with a better (lower) priority."""
        permit = self.try_acquire()
        if permit is not None:
            return permit
        fut = self._waiters.push(priority)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._inflight -= 1  # a slot was granted as we were cancelled: give it back
                self._wake()
            raise
        return Permit(self, self._clock.now(), self._inflight)

    def raise_to(self, n: int) -> int:
        """Lift the limit to at least ``n`` now (what the server said it has room for) and
        wake the waiters it makes room for; returns the limit."""
        old = self._limit.limit
        return self._moved(old, self._limit.raise_to(n))

    def share_hold(self, level: int) -> int:
        """Hold ``level`` under a 529 cap the group shares (``cap_share``), if the limit
        holds one; wakes the waiters a higher level makes room for. Returns the limit."""
        if not isinstance(self._limit, HoldsCap):
            return self._limit.limit
        old = self._limit.limit
        return self._moved(old, self._limit.share_hold(level, self._clock.now()))

    def _moved(self, old: int, new: int) -> int:
        """The limit was set from outside a sample: wake the waiters a higher one makes
        room for and tell the listeners."""
        if new != old:
            self._wake()
            for listener in list(self.on_change):
                listener(old, new)
        return new

    @property
    def held(self) -> int | None:
        """The level the limit holds under a 529 cap; None while it holds none."""
        return self._limit.held if isinstance(self._limit, HoldsCap) else None

    @contextlib.asynccontextmanager
    async def acquire_permit(self) -> AsyncIterator[Permit]:
        """``async with``: a permit that is released as ``ignored()`` if left unsettled.

        The body should call ``success()`` or ``dropped()``; if it raises (or forgets)
        first, the slot is freed without a sample, so it can never leak.
        """
        permit = await self.acquire()
        try:
            yield permit
        finally:
            if not permit.settled:
                permit.ignored()

    def _grant(self) -> Permit:
        self._inflight += 1
        return Permit(self, self._clock.now(), self._inflight)

    def _wake(self) -> None:
        # The slot is counted when the waiter is woken, so nobody can take it meanwhile.
        while self._inflight < self.limit and self._waiters.wake_one():
            self._inflight += 1

    def _release(
        self,
        permit: Permit,
        outcome: PermitOutcome,
        output_tokens: int | None,
        ttft: float | None,
    ) -> None:
        self._inflight -= 1
        old = self._limit.limit
        new = old
        if outcome is not PermitOutcome.IGNORED:
            now = self._clock.now()
            new = self._limit.on_sample(
                now=now,
                rtt=max(0.0, now - permit.started_at),
                inflight=permit.inflight,
                dropped=outcome is PermitOutcome.DROPPED,
                output_tokens=output_tokens,
                ttft=ttft,
                overloaded=permit.overloaded,
            )
        self._wake()
        if self._inflight == 0 and not self.waiting:
            new = self._limit.on_idle()
        if new != old:
            for listener in list(self.on_change):
                listener(old, new)

    def __repr__(self) -> str:
        return f"<Limiter limit={self.limit} inflight={self._inflight} waiting={self.waiting}>"
