"""Waiters are served by priority: an older document's next stage goes first."""

from __future__ import annotations

import asyncio

from stream.concurrency import FixedLimit, Limiter, ManualClock, PriorityTurn


async def test_limiter_wakes_the_lowest_priority_waiter_first() -> None:
    """With the pool full, freed slots go to waiters in priority order, not arrival."""
    limiter = Limiter(FixedLimit(1), ManualClock())
    held = await limiter.acquire()
    order: list[int] = []

    async def wait(priority: int) -> None:
        permit = await limiter.acquire((0, priority))
        order.append(priority)
        permit.success()

    tasks = [asyncio.create_task(wait(p)) for p in (30, 10, 20)]
    await asyncio.sleep(0)
    held.success()
    await asyncio.gather(*tasks)
    assert order == [10, 20, 30]


async def test_limiter_cancelled_waiter_never_leaks_a_slot() -> None:
    """A waiter cancelled while queued (or just after being woken) frees nothing twice
    and takes nothing with it."""
    limiter = Limiter(FixedLimit(1), ManualClock())
    held = await limiter.acquire()
    doomed = asyncio.create_task(limiter.acquire((0, 1)))
    later = asyncio.create_task(limiter.acquire((0, 2)))
    await asyncio.sleep(0)
    held.success()  # wakes `doomed` ...
    doomed.cancel()  # ... which is cancelled before it runs
    permit = await later
    assert limiter.inflight == 1
    permit.success()
    assert limiter.inflight == 0


async def test_priority_turn_is_handed_over_by_priority() -> None:
    """PriorityTurn: the holder's successor is the best waiter, equal ones in order."""
    turn = PriorityTurn()
    order: list[str] = []
    gate = asyncio.Event()

    async def take(name: str, priority: int) -> None:
        async with turn((priority, 0)):
            order.append(name)
            if name == "first":
                await gate.wait()

    first = asyncio.create_task(take("first", 9))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(take(n, p)) for n, p in (("c", 3), ("a", 1), ("b", 2))]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *rest)
    assert order == ["first", "a", "b", "c"]
