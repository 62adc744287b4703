"""ManualClock lets async tests control time; MonotonicClock is the real thing."""

from __future__ import annotations

import asyncio

import pytest

from stream.concurrency import Clock, ManualClock, MonotonicClock, sleep_or_event
from tests.concurrency.helpers import settle


async def test_manual_clock_sleep_suspends_until_advanced_past_wake_time() -> None:
    """A 5 s sleep is still pending at 4.9 s and done at 5 s."""
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(5))
    await settle()
    clock.advance(4.9)
    await settle()
    assert not task.done()
    clock.advance(0.1)
    await settle()
    assert task.done()


async def test_manual_clock_advance_wakes_in_wake_time_order() -> None:
    """Sleepers registered as 3, 1, 2 seconds resume in the order 1, 2, 3."""
    clock = ManualClock()
    order: list[int] = []

    async def nap(seconds: int) -> None:
        await clock.sleep(seconds)
        order.append(seconds)

    tasks = [asyncio.create_task(nap(s)) for s in (3, 1, 2)]
    await settle()
    assert clock.sleepers == 3
    assert clock.next_wake == 1
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert order == [1, 2, 3]


async def test_manual_clock_cancelled_sleeper_is_forgotten() -> None:
    """Cancelling a sleeping task removes it from the sleepers."""
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(5))
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleepers == 0
    assert clock.next_wake is None


async def test_manual_clock_run_for_stops_at_every_wake_time() -> None:
    """A task sleeping 1 s in a loop observes 1, 2, 3, 4, 5 during run_for(5)."""
    clock = ManualClock()
    seen: list[float] = []

    async def ticker() -> None:
        for _ in range(5):
            await clock.sleep(1)
            seen.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.run_for(5)
    await task
    assert seen == [1, 2, 3, 4, 5]
    assert clock.now() == 5


async def test_manual_clock_auto_advance_jumps_when_all_tasks_sleep() -> None:
    """With auto_advance, concurrent sleeps finish at their own times without advance()."""
    clock = ManualClock(auto_advance=True)
    woke: dict[str, float] = {}

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke[name] = clock.now()

    await asyncio.gather(nap("long", 100), nap("short", 30), nap("mid", 60))
    assert woke == {"short": 30, "mid": 60, "long": 100}


async def test_manual_clock_zero_or_negative_sleep_returns_at_once() -> None:
    """sleep(0) and sleep(-1) only yield; time does not move."""
    clock = ManualClock(start=7)
    await clock.sleep(0)
    await clock.sleep(-1)
    assert clock.now() == 7
    assert clock.sleepers == 0


def test_manual_clock_refuses_to_go_backwards() -> None:
    """advance(-1) and advance_to(the past) raise."""
    clock = ManualClock(start=10)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.advance_to(9)
    clock.advance_to(12)
    assert clock.now() == 12


async def test_monotonic_clock_never_goes_back_and_sleeps() -> None:
    """MonotonicClock satisfies Clock; now() is non-decreasing across a real sleep(0)."""
    clock = MonotonicClock()
    assert isinstance(clock, Clock)
    before = clock.now()
    await clock.sleep(0)
    await clock.sleep(-5)
    assert clock.now() >= before


async def test_sleep_or_event_returns_true_when_event_fires_first() -> None:
    """The event wins: True, and no sleeper is left behind on the clock."""
    clock = ManualClock()
    event = asyncio.Event()
    task = asyncio.create_task(sleep_or_event(clock, 10, event))
    await settle()
    event.set()
    assert await task is True
    assert clock.sleepers == 0


async def test_sleep_or_event_returns_false_on_timeout() -> None:
    """The clock wins: False after the full duration."""
    clock = ManualClock()
    task = asyncio.create_task(sleep_or_event(clock, 10, asyncio.Event()))
    await settle()
    clock.advance(10)
    assert await task is False
