"""What a poll returned, on its way to dispatch: the crash window and the handover.

A record is dispatched at once while its partition's span (last commit to highest
dispatched offset) is under the window and its finished offsets are loaded; otherwise
it waits here, parked in offset order, until a commit shrinks the span. Records of a
partition being revoked are not taken at all: left uncommitted, the next owner fetches
them again (started here, they would be written after the handover's commit). A poll is
admitted a slice at a time, so that the first records reach their calls before the
rest of a big poll has been prepared.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

from stream.finished import FinishedKeeper
from stream.offsets import OffsetTracker
from stream.ports import TP, RawRecord

__all__ = ["Intake"]

# A poll of a job's burst returns hundreds of records. Admitted in one go, every record's
# task ran its first steps (decode, render, trace) before the first call's request
# could be written: a warm worker's first call came 0.23-0.41 s after the first
# publish, and 0.07 s when the loop lets the admitted tasks run after each slice.
ADMIT_SLICE = 8


class Intake:
    def __init__(
        self,
        tracker: OffsetTracker,
        finished: FinishedKeeper,
        *,
        window: int,
        dispatch: Callable[[RawRecord], None],
    ) -> None:
        self._tracker = tracker
        self._finished = finished
        self._window = window
        self._dispatch = dispatch
        self._parked: dict[TP, deque[RawRecord]] = {}
        self._revoking: set[TP] = set()

    @property
    def parked(self) -> int:
        return sum(len(records) for records in self._parked.values())

    def admit(self, record: RawRecord) -> None:
        tp = (record.topic, record.partition)
        if tp in self._revoking:
            return
        if tp not in self._parked and self._ready(tp):
            self._dispatch(record)
        else:
            self._parked.setdefault(tp, deque()).append(record)

    async def admit_poll(
        self,
        records: Sequence[RawRecord],
        *,
        owned: Callable[[], set[TP]],
        stopped: Callable[[], bool],
    ) -> None:
        """Admit a poll's records a slice at a time (``ADMIT_SLICE``). Between slices a
        stop may have come (the rest are not started: uncommitted, they are fetched
        again) or a partition may have been revoked (its records are the next owner's)."""
        still: set[TP] | None = None
        for n, record in enumerate(records):
            if n and n % ADMIT_SLICE == 0:
                await asyncio.sleep(0)
                if stopped():
                    return
                still = owned()
            if still is None or (record.topic, record.partition) in still:
                self.admit(record)

    def release(self) -> None:
        """Dispatch the parked records whose partitions have room again, in order."""
        for tp, records in list(self._parked.items()):
            while records and self._ready(tp):
                self._dispatch(records.popleft())
            if not records:
                del self._parked[tp]

    def window_full(self, tps: Iterable[TP]) -> set[TP]:
        """The partitions to keep paused: no room, records parked, or offsets loading."""
        return {tp for tp in tps if tp in self._parked or not self._ready(tp)}

    @contextlib.contextmanager
    def revoking(self, tps: Iterable[TP]) -> Iterator[None]:
        """While the block runs (the revoke's wait and commit), take nothing of ``tps``;
        what was parked is dropped at once."""
        tps = set(tps)
        for tp in tps:
            self._parked.pop(tp, None)
        self._revoking |= tps
        try:
            yield
        finally:
            self._revoking -= tps

    def _ready(self, tp: TP) -> bool:
        return not self._finished.loading(tp) and self._tracker.span(tp) < self._window
