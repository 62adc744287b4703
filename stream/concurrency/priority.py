"""Priority order for waiters: older documents (and higher-priority ones) go first.

A pipeline's dependent stage is asked for later than the first stages of documents that
arrived after it. Served first-come-first-served, it would wait behind all of them and
no document would finish until nearly every document had started. Waiters are therefore
served by ``Priority`` - ``(-document.priority, dispatch sequence)``, lowest first - so
documents finish roughly in the order they arrived and results (and commits) flow
steadily. Ties keep arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["Priority", "PriorityQueueOfWaiters", "PriorityTurn"]

Priority = tuple[int, int]
LOWEST: Priority = (0, 0)


class PriorityQueueOfWaiters:
    """Futures waiting for something, woken lowest priority first (a heap with lazy
    removal of cancelled waiters)."""

    def __init__(self) -> None:
        self._heap: list[tuple[Priority, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def push(self, priority: Priority) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (priority, next(self._seq), fut))
        self._live += 1
        fut.add_done_callback(self._gone)
        return fut

    def wake_one(self) -> bool:
        """Resolve the best waiter still waiting; False if there is none."""
        while self._heap:
            _, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_result(None)
                return True
        return False

    def _gone(self, _: asyncio.Future[None]) -> None:
        self._live -= 1


class PriorityTurn:
    """A lock that is handed to the waiter with the best priority, not the first one."""

    def __init__(self) -> None:
        self._held = False
        self._waiters = PriorityQueueOfWaiters()

    @asynccontextmanager
    async def __call__(self, priority: Priority = LOWEST) -> AsyncIterator[None]:
        if self._held or len(self._waiters):
            fut = self._waiters.push(priority)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._pass_on()  # handed to us as we were cancelled: pass it on
                raise
        else:
            self._held = True
        try:
            yield
        finally:
            self._pass_on()

    def _pass_on(self) -> None:
        # The turn goes straight to the next waiter (it stays held), or is released.
        self._held = self._waiters.wake_one()
