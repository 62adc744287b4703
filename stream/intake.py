"""What a poll returned, on its way to dispatch: the crash window and the handover.

A record is dispatched at once while its partition's span (last commit to highest
dispatched offset) is under the window and its finished offsets are loaded; otherwise
it waits here, parked in offset order, until a commit shrinks the span. Records of a
partition being revoked are not taken at all: left uncommitted, the next owner fetches
them again (started here, they would be written after the handover's commit).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from stream.finished import FinishedKeeper
from stream.offsets import OffsetTracker
from stream.ports import TP, RawRecord

__all__ = ["Intake"]


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
