"""Time as a dependency: every controller reads ``now()`` and waits with ``sleep()``.

Limits, limiters, pacers, gates and breakers never call ``time`` or ``asyncio.sleep``
themselves; they take a ``Clock``. Production passes ``MonotonicClock``; tests pass
``ManualClock``, which only moves when told to (or, with ``auto_advance``, when every task
is asleep), so async tests run in microseconds and never depend on a machine's speed.
``ManualClock`` ships here rather than under ``tests/`` for the same reason httpx ships
``MockTransport``: the lead's and users' tests need it too.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from typing import Protocol, runtime_checkable

__all__ = [
    "Clock",
    "ClockTimeout",
    "ManualClock",
    "MonotonicClock",
    "clock_timeout",
    "sleep_or_event",
]


@runtime_checkable
class Clock(Protocol):
    """Monotonic seconds and a way to wait for them to pass."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when the test says so, for deterministic async tests.

    ``sleep(s)`` suspends the caller until the clock has been advanced to ``now() + s``.
    ``advance(s)`` moves time and wakes the due sleepers (they run at the caller's next
    ``await``); ``run_for(s)`` steps from one wake time to the next and lets the woken
    tasks run at each step, so they observe every intermediate time.

    With ``auto_advance=True`` the clock jumps to the next wake time by itself once the
    event loop has gone ``idle_rounds`` iterations without any sleep starting: the
    asyncio counterpart of trio's autojump clock. It suits tests whose tasks wait only
    on each other and on this clock; a task that is busy without sleeping on the clock
    (real sockets, spinning on ``asyncio.sleep(0)``) may see time jump under it.
    """

    def __init__(
        self, start: float = 0.0, *, auto_advance: bool = False, idle_rounds: int = 20
    ) -> None:
        if idle_rounds < 1:
            raise ValueError("idle_rounds must be >= 1")
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._auto = auto_advance
        self._idle_rounds = idle_rounds
        self._quiet = 0
        self._jumper: asyncio.Handle | None = None

    def now(self) -> float:
        return self._now

    @property
    def sleepers(self) -> int:
        """Tasks currently suspended in ``sleep()``."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    @property
    def next_wake(self) -> float | None:
        """The earliest time a sleeper is waiting for, or None when nobody sleeps."""
        self._prune()
        return self._sleepers[0][0] if self._sleepers else None

    async def sleep(self, seconds: float) -> None:
        if math.isnan(seconds):
            raise ValueError("cannot sleep NaN seconds")
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        # A positive sleep always ends strictly later, even when now + seconds rounds to now.
        wake = max(self._now + seconds, math.nextafter(self._now, math.inf))
        heapq.heappush(self._sleepers, (wake, next(self._seq), fut))
        self._poke(loop)
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every sleeper now due."""
        if not seconds >= 0:
            raise ValueError(f"cannot advance by {seconds!r} seconds")
        self._set(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time forward to ``when`` (never backwards) and wake the due sleepers."""
        if not when >= self._now:
            raise ValueError(f"cannot move the clock back from {self._now} to {when}")
        self._set(when)

    async def run_for(self, seconds: float, *, rounds: int = 20) -> None:
        """Advance ``seconds`` in steps that stop at every wake time on the way.

        After each step the event loop runs ``rounds`` times, so the woken tasks can act
        (and start new sleeps, which are honoured if they fall inside the span).
        """
        end = self._now + seconds
        await _yield(rounds)
        while True:
            wake = self.next_wake
            if wake is None or wake > end:
                break
            self._set(wake)
            await _yield(rounds)
        self._set(max(end, self._now))
        await _yield(rounds)

    def _set(self, when: float) -> None:
        self._now = when
        while self._sleepers and self._sleepers[0][0] <= when:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def _prune(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    def _poke(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._auto:
            return
        self._quiet = 0
        if self._jumper is None:
            self._jumper = loop.call_soon(self._check_idle, loop)

    def _check_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        self._jumper = None
        self._prune()
        if not self._sleepers:
            return
        if self._quiet < self._idle_rounds:
            self._quiet += 1
        else:
            self._quiet = 0
            self._set(self._sleepers[0][0])
        self._jumper = loop.call_soon(self._check_idle, loop)


async def sleep_or_event(clock: Clock, seconds: float, event: asyncio.Event) -> bool:
    """Wait until ``seconds`` have passed on ``clock`` or ``event`` is set, whichever first.

    Returns True when the event was set. Both helper tasks are owned here and cancelled
    before returning, so nothing outlives the call (also when the caller is cancelled).
    """
    if event.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    setter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, setter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, setter):
            if not task.done():
                task.cancel()
        await asyncio.gather(sleeper, setter, return_exceptions=True)
    return event.is_set()


def clock_timeout(clock: Clock, seconds: float | None) -> ClockTimeout:
    """``async with clock_timeout(clock, seconds):`` - asyncio.timeout on an injected clock."""
    return ClockTimeout(clock, seconds)


class ClockTimeout:
    """A timeout scope on a ``Clock`` (see ``clock_timeout``).

    The block is cancelled when ``seconds`` have passed on ``clock`` and the scope raises
    TimeoutError; a cancel from outside still propagates as CancelledError. ``None`` means
    no deadline. The alarm task is owned by the scope and ends with it.
    """

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self._clock = clock
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._alarm: asyncio.Task[None] | None = None
        self._inside = False
        self.expired = False

    async def __aenter__(self) -> ClockTimeout:
        self._task = asyncio.current_task()
        self._inside = True
        if self._seconds is not None:
            self._alarm = asyncio.ensure_future(self._ring(self._seconds))
        return self

    async def _ring(self, seconds: float) -> None:
        await self._clock.sleep(seconds)
        if self._inside and self._task is not None:
            self.expired = True
            self._task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        self._inside = False
        if self._alarm is not None and not self._alarm.done():
            self._alarm.cancel()
        if self.expired and exc_type is asyncio.CancelledError:
            assert self._task is not None
            if self._task.uncancel() == 0:
                raise TimeoutError from exc


async def _yield(rounds: int) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)
