"""Acknowledge a partition's events in the order they arrived, whatever order they finish.

Faust commits the offset after the longest run of acked offsets, but its guard against a
gap at the head of that run is off by one (and absent before the first commit): with
offset N still in flight and N+1.. acked, it commits past N, and a crash then loses N
(faust-streaming issue #606, fix pending in PR #707; checked in 0.15.3). So the stage
never acks out of order: an event is handed back for acking only when it and every
event that arrived before it on its partition are finished.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["InOrderAcks", "Slot"]

E = TypeVar("E")


@dataclass(slots=True)
class Slot(Generic[E]):
    """One event's place in its partition's arrival order."""

    partition: Hashable
    event: E
    finished: bool = False


class InOrderAcks(Generic[E]):
    """Per partition, a queue of events in arrival order; ``finish`` returns the events
    that may now be acked (the finished prefix)."""

    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[Slot[E]]] = {}

    def arrived(self, partition: Hashable, event: E) -> Slot[E]:
        slot = Slot(partition, event)
        self._queues.setdefault(partition, deque()).append(slot)
        return slot

    def finish(self, slot: Slot[E]) -> list[E]:
        slot.finished = True
        queue = self._queues[slot.partition]
        ready = []
        while queue and queue[0].finished:
            ready.append(queue.popleft().event)
        if not queue:
            del self._queues[slot.partition]
        return ready

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())
