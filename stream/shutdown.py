"""Waiting without being held: the processor's outer shutdown bound and the stop race.

A timeout scope ends an await by cancelling it, which does nothing against an await
that ignores the cancel (aiokafka's consumer stop waiting for a rejoining coordinator).
These helpers stop *waiting* instead, and leave the stuck work to its owner.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from stream.concurrency import Clock

__all__ = ["ends_within_bound", "unless_stopped"]

T = TypeVar("T")


async def ends_within_bound(
    work: asyncio.Future[Any], started: asyncio.Event, clock: Clock, bound_s: float
) -> bool:
    """Wait for ``work``; once ``started`` is set, for at most ``bound_s`` more on ``clock``.
    True if it ended. Never cancels it: the step that is stuck may not honour a cancel."""
    if not await _first(work, started.wait()):
        return True
    return not await _first(work, clock.sleep(bound_s))


async def unless_stopped(work: asyncio.Future[T], stopping: asyncio.Event) -> T | None:
    """``work``'s result, or None (``work`` cancelled, not awaited) once ``stopping`` is set."""
    if await _first(work, stopping.wait()):
        work.cancel()
        return None
    return work.result()


async def _first(work: asyncio.Future[Any], other: Any) -> bool:
    """Wait until ``work`` or the awaitable ``other`` ends; True if ``other`` ended first."""
    waiter: asyncio.Future[Any] = asyncio.ensure_future(other)
    try:
        await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return not work.done()
