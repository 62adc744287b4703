"""A circuit breaker for transient failures: stop calling a server that keeps failing.

Closed, it lets everything through and counts. It opens after ``failure_threshold``
consecutive transient failures, or when more than ``error_rate`` of the calls in the
last ``window_s`` seconds failed (once at least ``min_calls`` were made). Open, it lets
nothing through for its open time. Then it is half-open and lets exactly one probe
through: a success closes it, a failure opens it again for twice as long (up to
``max_open_s``; the open time returns to ``open_s`` when it closes).

Only outcomes that say something about the server's health belong here: transient
failures and overloads as failures, completed calls as successes. A probe that ends in
neither (e.g. a 400, or its task was cancelled) should call ``record_ignored()`` so the
next caller can probe; as a safety net an unanswered probe expires after
``probe_timeout_s``.

A call for a document that has already failed (``after_failure``) says more about that
document than about the server. While closed, its failure does not count: a few
documents the server always fails must not open the breaker again and again. In
half-open it takes the probe only when no call for a fresh document waits for it: a
probe that fails because of its document would keep the breaker open, twice as long
each time, in front of a healthy server.

The open -> half-open transition is lazy: it happens, and ``on_transition`` listeners
hear of it, the first time anyone looks (``state``, ``allow``, the ``wait_*`` methods)
after the open time has passed. A processor that pauses partitions while the breaker is
open therefore waits in ``wait_while_open()``.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Iterable

from stream.concurrency.clock import Clock, sleep_or_event

__all__ = ["BreakerState", "CircuitBreaker", "TransitionListener"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


TransitionListener = Callable[[BreakerState, BreakerState], None]
"""Called with (old, new) after every state change."""


class CircuitBreaker:
    """Closed / open / half-open, driven by ``record_*`` calls and the injected clock."""

    def __init__(
        self,
        clock: Clock,
        *,
        failure_threshold: int = 20,
        error_rate: float = 0.5,
        window_s: float = 60.0,
        min_calls: int = 20,
        open_s: float = 30.0,
        max_open_s: float = 300.0,
        probe_timeout_s: float = 120.0,
        on_transition: Iterable[TransitionListener] = (),
    ) -> None:
        if failure_threshold < 1 or min_calls < 1:
            raise ValueError("failure_threshold and min_calls must be >= 1")
        if not 0.0 < error_rate <= 1.0:
            raise ValueError(f"error_rate must be in (0, 1] (got {error_rate})")
        if window_s <= 0 or open_s <= 0 or probe_timeout_s <= 0:
            raise ValueError("window_s, open_s and probe_timeout_s must be > 0")
        self._clock = clock
        self._threshold = failure_threshold
        self._error_rate = error_rate
        self._window_s = window_s
        self._min_calls = min_calls
        self._base_open_s = open_s
        self._max_open_s = max(max_open_s, open_s)
        self._probe_timeout_s = probe_timeout_s
        self.on_transition: list[TransitionListener] = list(on_transition)
        self._state = BreakerState.CLOSED
        self._open_s = open_s
        self._opened_at = 0.0
        self._probe_at: float | None = None
        self._consecutive = 0
        self._calls: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._failures = 0
        self._fresh_waiting = 0  # callers for documents that have not failed, in wait_*
        self._changed = asyncio.Event()

    @property
    def state(self) -> BreakerState:
        self._advance()
        return self._state

    @property
    def open_s(self) -> float:
        """How long the breaker stays open the next (or current) time it opens."""
        return self._open_s

    @property
    def reopens_at(self) -> float | None:
        """Clock time an open breaker turns half-open; None unless open."""
        self._advance()
        return self._opened_at + self._open_s if self._state is BreakerState.OPEN else None

    def allow(self, *, after_failure: bool = False) -> bool:
        """May a call go now? In half-open, True once: the caller is the probe. A call
        for a document that already failed is not given the probe while a fresh one
        waits for it."""
        self._advance()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN or self._probe_out():
            return False
        if after_failure and self._fresh_waiting:
            return False
        self._probe_at = self._clock.now()
        return True

    def _probe_out(self) -> bool:
        at = self._probe_at
        return at is not None and self._clock.now() < at + self._probe_timeout_s

    def record_success(self) -> None:
        self._advance()
        if self._state is BreakerState.HALF_OPEN:
            self._open_s = self._base_open_s
            self._transition(BreakerState.CLOSED)
        elif self._state is BreakerState.CLOSED:
            self._consecutive = 0
            self._count(failed=False)

    def record_failure(self, *, after_failure: bool = False) -> None:
        """A transient failure; ``after_failure``: its document had failed before."""
        self._advance()
        if self._state is BreakerState.HALF_OPEN:
            self._open_s = min(self._open_s * 2.0, self._max_open_s)
            self._open()
        elif self._state is BreakerState.CLOSED and not after_failure:
            self._consecutive += 1
            self._count(failed=True)
            if self._consecutive >= self._threshold or self._rate_exceeded():
                self._open()

    def record_ignored(self) -> None:
        """A call ended with an outcome that says nothing about health: free the probe."""
        self._advance()
        if self._state is BreakerState.HALF_OPEN and self._probe_at is not None:
            self._probe_at = None
            self._notify()

    async def wait_until_allowed(self, *, after_failure: bool = False) -> float:
        """Waits (on the clock) until ``allow()`` says yes; returns seconds waited."""
        start = self._clock.now()
        if self.allow(after_failure=after_failure):
            return 0.0
        self._fresh_waiting += not after_failure
        try:
            while not self.allow(after_failure=after_failure):
                await sleep_or_event(self._clock, self._next_look(), self._changed)
        finally:
            self._fresh_waiting -= not after_failure
            if not self._fresh_waiting and self._state is BreakerState.HALF_OPEN:
                self._notify()  # a caller that gave the probe way may take it now
        return self._clock.now() - start

    def _next_look(self) -> float:
        """Seconds until the state can change by the clock alone (else an event wakes)."""
        if self._state is BreakerState.OPEN:
            return self._opened_at + self._open_s - self._clock.now()
        if self._probe_at is not None:
            return self._probe_at + self._probe_timeout_s - self._clock.now()
        return self._probe_timeout_s  # waiting for a fresh caller to take the probe

    async def wait_while_open(self) -> None:
        """Waits until the breaker is not open, without claiming the probe."""
        while (reopens := self.reopens_at) is not None:
            await sleep_or_event(self._clock, reopens - self._clock.now(), self._changed)

    def _advance(self) -> None:
        if self._state is BreakerState.OPEN and self._clock.now() >= self._opened_at + self._open_s:
            self._probe_at = None
            self._transition(BreakerState.HALF_OPEN)

    def _open(self) -> None:
        self._opened_at = self._clock.now()
        self._probe_at = None
        self._transition(BreakerState.OPEN)

    def _count(self, *, failed: bool) -> None:
        now = self._clock.now()
        self._calls.append((now, failed))
        self._failures += failed
        while self._calls and self._calls[0][0] <= now - self._window_s:
            _, old_failed = self._calls.popleft()
            self._failures -= old_failed

    def _rate_exceeded(self) -> bool:
        total = len(self._calls)
        return total >= self._min_calls and self._failures / total > self._error_rate

    def _transition(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._calls.clear()  # every state starts counting afresh
        self._failures = self._consecutive = 0
        self._notify()
        for listener in list(self.on_transition):
            listener(old, new)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._state.value} open_s={self._open_s}>"
