"""Which offset may be committed, per partition, when records finish out of order.

A record's offset counts as *done* only once its result or DLQ record has been
acknowledged by the broker. The committable position of a partition is one past the
highest offset below which every fetched record is done (Parallel Consumer's "highest
committable offset"). Offsets the broker skipped (compaction, transaction markers) were
never fetched, so they never hold the position back.

Each assignment of a partition gets a new generation; completions carrying an older
generation (work that outlived a revoke) are ignored, so they can never move the
position of the partition's next owner or of a later assignment here.

Pure and synchronous: no aiokafka, no clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from stream.ports import TP

__all__ = ["OffsetTracker", "Ticket"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """Proof that an offset was tracked under one assignment generation."""

    tp: TP
    offset: int
    generation: int


@dataclass(slots=True)
class _Partition:
    generation: int
    order: deque[int] = field(default_factory=deque)  # fetched, not yet below the position
    done: set[int] = field(default_factory=set)
    position: int | None = None  # next offset to commit; None until the first fetch
    committed: int | None = None
    last_tracked: int | None = None
    first_tracked: int | None = None


class OffsetTracker:
    def __init__(self) -> None:
        self._parts: dict[TP, _Partition] = {}
        self._generation = 0

    def assign(self, tp: TP) -> None:
        """Start tracking a partition under a new generation (after its revoke, if any).

        A partition already tracked is kept: aiokafka can hand out a partition's records
        before its assignment callback has run, and forgetting them would let the
        position start above records still running."""
        if tp in self._parts:
            return
        self._generation += 1
        self._parts[tp] = _Partition(generation=self._generation)

    def revoke(self, tp: TP) -> None:
        self._parts.pop(tp, None)

    def track(self, tp: TP, offset: int) -> Ticket:
        """Register a fetched record. Offsets of one partition must arrive in increasing order."""
        part = self._parts.get(tp)
        if part is None:
            self.assign(tp)
            part = self._parts[tp]
        if part.last_tracked is not None and offset <= part.last_tracked:
            raise ValueError(f"{tp}: offset {offset} fetched after {part.last_tracked}")
        if part.position is None:
            part.position = offset
            part.first_tracked = offset
        part.order.append(offset)
        part.last_tracked = offset
        return Ticket(tp, offset, part.generation)

    def complete(self, ticket: Ticket) -> bool:
        """Mark a tracked offset done; False when its assignment is gone (stale work)."""
        part = self._parts.get(ticket.tp)
        if part is None or part.generation != ticket.generation:
            return False
        part.done.add(ticket.offset)
        order = part.order
        while order and order[0] in part.done:
            finished = order.popleft()
            part.done.discard(finished)
            part.position = finished + 1
        return True

    def committable(self) -> dict[TP, int]:
        """Positions that moved since the last commit: {tp: next offset to read}."""
        out = {}
        for tp, part in self._parts.items():
            if part.position is not None and part.position != part.committed:
                out[tp] = part.position
        return out

    def mark_committed(self, offsets: dict[TP, int]) -> None:
        for tp, position in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed = position

    def pending(self, tp: TP | None = None) -> int:
        """Fetched records not yet done (one partition, or all)."""
        if tp is not None:
            part = self._parts.get(tp)
            return 0 if part is None else len(part.order) - len(part.done)
        return sum(len(p.order) - len(p.done) for p in self._parts.values())

    def span(self, tp: TP) -> int:
        """Offsets from the last commit this tracker made (or, before any, the first
        fetched offset, where the group's committed position stood) up to the highest
        tracked one: what a crash now could send through the pipeline a second time."""
        part = self._parts.get(tp)
        if part is None or part.last_tracked is None:
            return 0
        base = part.committed if part.committed is not None else part.first_tracked
        assert base is not None
        return max(part.last_tracked + 1 - base, 0)

    def finished_above(self) -> dict[TP, tuple[int, frozenset[int]]]:
        """Per partition: the committable position and the done offsets above it."""
        return {
            tp: (part.position, frozenset(part.done))
            for tp, part in self._parts.items()
            if part.position is not None
        }

    def partitions(self) -> list[TP]:
        return list(self._parts)

    def position(self, tp: TP) -> int | None:
        part = self._parts.get(tp)
        return None if part is None else part.position
