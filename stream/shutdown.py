"""Waiting without being held: the processor's outer shutdown bound and the stop race.

A timeout scope ends an await by cancelling it, which does nothing against an await
that ignores the cancel (aiokafka's consumer stop waiting for a rejoining coordinator).
These helpers stop *waiting* instead, and leave the stuck work to its owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from stream.concurrency import Clock

__all__ = ["ends_within_bound", "until_first"]


async def ends_within_bound(
    work: asyncio.Future[Any], started: asyncio.Event, clock: Clock, bound_s: float
) -> bool:
    """Wait for ``work``; once ``started`` is set, for at most ``bound_s`` more on ``clock``.
    True if it ended. Never cancels it: the step that is stuck may not honour a cancel."""
    if not await _first(work, started.wait()):
        return True
    return not await _first(work, clock.sleep(bound_s))


async def until_first(work: asyncio.Future[Any], *others: Awaitable[Any]) -> None:
    """Wait until ``work`` or one of ``others`` ends; the others are then cancelled and
    ``work`` is left as it is (done, or still running for its owner to deal with)."""
    waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(other) for other in others}
    try:
        await asyncio.wait({work, *waiters}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _first(work: asyncio.Future[Any], other: Awaitable[Any]) -> bool:
    """Wait until ``work`` or ``other`` ends; True if ``other`` ended first."""
    await until_first(work, other)
    return not work.done()
