"""Commits: the committable offsets to the broker, on a timer and on demand.

The processor reports each completion; ``Committer`` commits what the OffsetTracker says
is committable every ``commit_interval_s``, after ``commit_every`` completions and at
once when a partition's crash window is full (it waits for this commit to move on).
With ``skip_finished`` the offsets finished above the commit are saved after each turn.
Every commit and save has its own deadline on the clock, so a broker that is down never
holds the worker. A terminal fatal outcome freezes commits for good (``frozen``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from stream.concurrency import Clock, clock_timeout
from stream.finished import FinishedKeeper
from stream.logstate import StateLog
from stream.observers import ProcessorObserver
from stream.offsets import OffsetTracker
from stream.ports import TP, RecordSource

__all__ = ["BROKER_DEADLINE_S", "Committer"]

log = logging.getLogger(__name__)

# Each commit, and leaving the group, may take this long on the clock; a broker that is
# down or answers with retriable errors forever cannot hold shutdown (aiokafka retries a
# commit on such errors without end).
BROKER_DEADLINE_S = 5.0


class Committer:
    def __init__(
        self,
        source: RecordSource,
        tracker: OffsetTracker,
        finished: FinishedKeeper,
        *,
        clock: Clock,
        observer: ProcessorObserver,
        interval_s: float,
        every: int,
        on_commit: Callable[[], None],
    ) -> None:
        self._source = source
        self._tracker = tracker
        self._finished = finished
        self._clock = clock
        self._observer = observer
        self._interval_s = interval_s
        self._every = every
        self._on_commit = on_commit
        self._now = asyncio.Event()
        self._since = 0
        self._log = StateLog(log, "commits")
        self.frozen = False  # nothing more may be committed (a terminal fatal outcome)

    def completed(self, *, window_full: bool) -> None:
        """One more record finished; a full crash window waits for this commit."""
        self._since += 1
        if window_full or self._since >= self._every:
            self._now.set()

    async def run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # arrives in the same loop turn as the event (the last record's commit_every),
            # and run() would then wait forever for this loop to end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._now.wait()
            self._now.clear()
            await self.commit()
            await self.save_finished()

    async def save_finished(self) -> None:
        # Safe even with commits frozen: only acknowledged outputs are listed, and the
        # committed position does not move.
        try:
            async with clock_timeout(self._clock, BROKER_DEADLINE_S):
                await self._finished.save(self._tracker.finished_above())
        except TimeoutError:
            log.warning("finished offsets not saved in time")

    async def commit(self, only: set[TP] | None = None) -> bool:
        """Commit what is committable; False if that could not be done (in time)."""
        if self.frozen:
            return True  # nothing more may be committed: not a failure to report
        offsets = self._tracker.committable()
        if only is not None:
            offsets = {tp: pos for tp, pos in offsets.items() if tp in only}
        if not offsets:
            return True
        self._since = 0
        started = self._clock.now()
        try:
            async with clock_timeout(self._clock, BROKER_DEADLINE_S):
                committed = await self._source.commit(offsets)
        except TimeoutError:
            committed = False
        self._observer.committed(self._clock.now() - started)
        self._log.note(None if committed else "commit failed or timed out")
        if committed:
            self._tracker.mark_committed(offsets)
            self._on_commit()
        return committed
