"""Ordered modes: the records of one lane run one after another, in offset order.

``processing.ordering`` chooses the lane: ``partition`` (one per partition), ``key`` (one
per key within a partition; records without a key run unordered) or ``none`` (every
record on its own). A lane's first record starts its task; the others queue behind it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from stream.offsets import Ticket
from stream.ports import TP, RawRecord

__all__ = ["Lanes"]

Lane = tuple[Any, ...]
Job = tuple[RawRecord, Ticket, int]  # the record, its offset ticket, its dispatch order


class Lanes:
    def __init__(
        self,
        ordering: str,
        run: Callable[[RawRecord, Ticket, int], Coroutine[Any, Any, None]],
        spawn: Callable[[TP, Coroutine[Any, Any, None]], None],
    ) -> None:
        self._ordering = ordering
        self._run = run
        self._spawn = spawn
        self._queues: dict[Lane, deque[Job]] = {}

    def __bool__(self) -> bool:
        """Is any lane still running or queued?"""
        return bool(self._queues)

    def dispatch(self, record: RawRecord, ticket: Ticket, sequence: int) -> None:
        tp = (record.topic, record.partition)
        lane = self._lane_of(record, tp)
        if lane is None:
            self._spawn(tp, self._run(record, ticket, sequence))
        elif (queue := self._queues.get(lane)) is not None:
            queue.append((record, ticket, sequence))
        else:
            self._queues[lane] = deque([(record, ticket, sequence)])
            self._spawn(tp, self._run_lane(lane))

    def keep_only_running(self, tps: Iterable[TP]) -> None:
        """A handover: these partitions' lanes keep the record in flight, drop the rest
        (left uncommitted, the next owner fetches them again)."""
        revoked = set(tps)
        for lane, queue in self._queues.items():
            while lane[1] in revoked and len(queue) > 1:
                queue.pop()

    def forget(self, tps: Iterable[TP]) -> None:
        revoked = set(tps)
        for lane in [lane for lane in self._queues if lane[1] in revoked]:
            del self._queues[lane]

    def _lane_of(self, record: RawRecord, tp: TP) -> Lane | None:
        mode = self._ordering
        if mode == "partition":
            return ("partition", tp)
        if mode == "key" and record.key is not None:
            return ("key", tp, record.key)
        return None

    async def _run_lane(self, lane: Lane) -> None:
        queue = self._queues[lane]
        try:
            while queue:
                await self._run(*queue[0])
                queue.popleft()
        finally:
            if self._queues.get(lane) is queue and not queue:
                del self._queues[lane]
