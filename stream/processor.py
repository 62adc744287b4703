"""The worker: composition root and owner of every task.

Lifecycle: start -> run (poll, dispatch, commit) -> drain -> final commit -> close.

- One poll loop keeps calling ``poll`` whatever Claude is doing; backpressure pauses the
  assigned partitions when ``buffer_size`` records are in flight and resumes them at half.
- The crash window: a partition is also paused while the span from its last commit to
  its highest dispatched offset is ``buffer_size`` (records finished above a stuck one
  can't be committed, so without this they would pile up and all be redone after a
  crash). Records a poll returns beyond the span wait, parked, until it shrinks.
  With ``skip_finished`` the offsets done above the commit are also saved after each
  commit-loop turn (``stream.finished``) and skipped when a partition is assigned again.
- Each record runs in its own task (or in its key/partition lane, for ordered modes). Its
  offset is completed only after the broker acknowledged its result or DLQ record
  (``stream.delivery``, which resends on retriable failures); the
  OffsetTracker turns completions into safe commit positions.
- Commits (``stream.commits``) run on an interval and after ``commit_every``
  completions, on revoke (after draining the revoked partitions within the drain
  deadline) and at shutdown.
- Fatal outcomes are held at the caller's fatal gate (``stream.concurrency.fatal``);
  the worker tells the processor (``fatal_paused``), which pauses consumption. Auth or
  unknown-model outcomes also freeze commits and exit 3 after ``pause_on_fatal_s``.
- Shutdown always ends: the drain is a timeout scope on the injected clock; the final
  commit and the group leave each have their own deadline, run shielded from a second
  cancel, and the exit code is 1 when the final commit could not be made. A stop gives
  up the poll at once; an outer bound (drain deadline + SHUTDOWN_GRACE_S from the stop)
  abandons a step that ignores its cancel and exits EXIT_SHUTDOWN_STUCK.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from stream.commits import BROKER_DEADLINE_S, Committer
from stream.concurrency import Clock, clock_timeout
from stream.config import Settings
from stream.delivery import Delivery
from stream.errors import CallsStopped, FatalOutcome
from stream.finished import FinishedKeeper, FinishedLedger
from stream.handler import RecordHandler
from stream.intake import Intake
from stream.lanes import Lanes
from stream.observers import NullProcessorObserver, ProcessorObserver
from stream.offsets import OffsetTracker, Ticket
from stream.ports import (
    TP,
    Output,
    RawRecord,
    RebalanceHandler,
    RecordSource,
    ResultSink,
)
from stream.shutdown import ends_within_bound, until_first
from stream.worker_stats import StopPolicy, WorkerStats

__all__ = [
    "EXIT_FATAL",
    "EXIT_SHUTDOWN_STUCK",
    "SHUTDOWN_GRACE_S",
    "Processor",
    "StopPolicy",
    "WorkerStats",
]

log = logging.getLogger(__name__)

EXIT_FATAL = 3
EXIT_UNCOMMITTED = 1  # stopped, but the final commit failed: the next owner redoes work
# From the stop, the ordered shutdown gets the drain deadline plus this grace (its broker
# steps need 4 x BROKER_DEADLINE_S at most): only an await that ignores its cancel, as
# aiokafka's consumer stop during a rejoin does, reaches it. Then it is abandoned.
SHUTDOWN_GRACE_S = 30.0
EXIT_SHUTDOWN_STUCK = 4  # the ordered shutdown did not end within the bound: abandoned
_POLL_TIMEOUT_S = 0.2
# Under backpressure every partition is paused and poll returns nothing until its
# timeout; a short one notices the resume point (half the buffer) before the buffer
# runs dry (measured: the worker sat idle 10-30% of the time with 0.2 s).
_BACKPRESSURE_POLL_TIMEOUT_S = 0.01
# How often the idle stop is checked while a poll is held (a group join can hold it).
_IDLE_CHECK_S = 0.5
_MAX_FETCH = 500


class Processor:
    def __init__(
        self,
        settings: Settings,
        *,
        source: RecordSource,
        sink: ResultSink,
        handler: RecordHandler,
        clock: Clock,
        observer: ProcessorObserver | None = None,
        stop: StopPolicy | None = None,
        finished: FinishedLedger | None = None,
    ) -> None:
        self._settings = settings
        self._proc = settings.processing
        self._source = source
        self._handler = handler
        self._clock = clock
        self._stop_policy = stop or StopPolicy()
        self._observer = observer or NullProcessorObserver()
        self._delivery = Delivery(
            sink,
            handler.dead_letter,
            clock=clock,
            observer=self._observer,
            stopping=lambda: self._stopping.is_set(),
        )
        self.tracker = OffsetTracker()
        self.stats = WorkerStats(started=clock.now())
        self._tasks: dict[TP, set[asyncio.Task[None]]] = {}
        self._lanes = Lanes(self._proc.ordering, self._run_one, self._spawn)
        self._pause_reasons: set[str] = set()
        self._paused: set[TP] = set()
        self._finished = FinishedKeeper(finished)
        self._intake = Intake(
            self.tracker, self._finished, window=self._proc.buffer_size, dispatch=self._dispatch
        )
        self._commits = Committer(
            source,
            self.tracker,
            self._finished,
            clock=clock,
            observer=self._observer,
            interval_s=self._proc.commit_interval_s,
            every=self._proc.commit_every,
            on_commit=self._count_commit,
        )
        self._stopping = asyncio.Event()
        self._shutdown = asyncio.Event()  # the outer bound runs from here (SHUTDOWN_GRACE_S)
        self._fatal_deadline: float | None = None
        self._last_activity = clock.now()
        self._assigned_once = False
        self._group: asyncio.TaskGroup | None = None
        self._poll_task: asyncio.Future[Sequence[RawRecord]] | None = None  # see _poll
        self.exit_code = 0
        # Called once per poll iteration, e.g. to let an open breaker move to half-open
        # (its transitions are lazy) when no call is waiting on it.
        self.on_tick: list[Callable[[], object]] = []
        # Called when a stop drains the worker, e.g. to stop new Claude calls.
        self.on_drain: list[Callable[[], object]] = []
        # Called with (partitions owned, partitions of the topic) after each assignment:
        # the caller counts that part of a shared account as its own until the
        # rate-limit headers show what the other members spend.
        self.on_assignment: list[Callable[[int, int], object]] = []

    # -- public -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """SIGTERM/SIGINT: stop fetching, drain within the deadline, commit, close."""
        self._stopping.set()
        self._shutdown.set()

    def set_paused(self, reason: str, paused: bool) -> None:
        """Pause or resume consumption for a reason (breaker open, fatal outcome, ...)."""
        if paused:
            self._pause_reasons.add(reason)
        else:
            self._pause_reasons.discard(reason)

    @property
    def assigned(self) -> int:
        """Partitions this worker holds now (benchmarks wait for a settled group)."""
        return len(self._source.assignment())

    @property
    def pause_reasons(self) -> frozenset[str]:
        return frozenset(self._pause_reasons)

    def lag(self) -> dict[TP, int]:
        out = {}
        for tp in self._source.assignment():
            high = self._source.highwater(tp)
            pos = self.tracker.position(tp)
            if high is not None:
                out[tp] = max(high - (pos if pos is not None else high), 0)
        return out

    def fatal_paused(self, paused: bool, *, terminal: bool) -> None:
        """The caller's fatal gate closed (or opened again). ``terminal`` (auth, unknown
        model): also freeze commits and exit EXIT_FATAL after ``pause_on_fatal_s``."""
        self.set_paused("fatal", paused)
        if paused and terminal and self._fatal_deadline is None:
            self._commits.frozen = True
            self._fatal_deadline = self._clock.now() + self._settings.limits.pause_on_fatal_s

    async def run(self) -> int:
        """Run until a stop; the shutdown then ends within ``shutdown_bound_s`` of it,
        with EXIT_SHUTDOWN_STUCK when the ordered close had to be abandoned."""
        ordered = asyncio.ensure_future(self._run_ordered())
        try:
            if await ends_within_bound(ordered, self._shutdown, self._clock, self.shutdown_bound_s):
                return ordered.result()
        except asyncio.CancelledError:
            ordered.cancel()
            await ends_within_bound(ordered, self._shutdown, self._clock, self.shutdown_bound_s)
            raise
        log.error(
            "shutdown did not end within %.0f s of the stop (a broker step ignored its "
            "deadline); abandoned, exiting %d",
            self.shutdown_bound_s,
            EXIT_SHUTDOWN_STUCK,
        )
        self.exit_code = EXIT_SHUTDOWN_STUCK
        return self.exit_code

    @property
    def shutdown_bound_s(self) -> float:
        """From the stop to the end of ``run``, at most (README, "Shutdown always ends")."""
        return self._proc.drain_deadline_s + SHUTDOWN_GRACE_S

    async def _run_ordered(self) -> int:
        await self._source.start(RebalanceHandler(self._on_assigned, self._on_revoked))
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                committer = group.create_task(self._commits.run())
                await self._poll_loop()
                await self._drain()
                committer.cancel()
        finally:
            await self._close()
        return self.exit_code

    async def _close(self) -> None:
        """The final commit, then leave the group, each within its deadline. Shielded: a
        second signal or a cancelled caller waits for it rather than cutting it short."""
        closing = asyncio.ensure_future(self._final_commit_and_stop())
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            await closing
            raise

    async def _final_commit_and_stop(self) -> None:
        positions = {tp: self.tracker.position(tp) for tp in self.tracker.partitions()}
        committed = await self._commits.commit()
        log.info("final commit at %s%s", _positions(positions), "" if committed else " failed")
        if not committed and self.exit_code == 0:
            self.exit_code = EXIT_UNCOMMITTED
        await self._commits.save_finished()
        try:
            async with clock_timeout(self._clock, BROKER_DEADLINE_S):
                await self._source.stop()
        except TimeoutError:
            log.warning("leaving the group took over %.0f s; closed anyway", BROKER_DEADLINE_S)
        if self._poll_task is not None:  # given up at the stop; ends with the consumer
            await asyncio.wait([self._poll_task])

    # -- polling and dispatch -----------------------------------------------------------

    async def _poll_loop(self) -> None:
        while not self._stopping.is_set() and not self._should_stop():
            for tick in self.on_tick:
                tick()
            self._intake.release()
            self._apply_pauses()
            room = self._proc.buffer_size - self.tracker.pending() - self._intake.parked
            backpressure = "backpressure" in self._pause_reasons
            records = await self._poll(
                max(1, min(_MAX_FETCH, room, self._remaining())),
                _BACKPRESSURE_POLL_TIMEOUT_S if backpressure else _POLL_TIMEOUT_S,
            )
            await self._intake.admit_poll(
                records[: self._remaining()],
                owned=self._source.assignment,
                stopped=self._stopping.is_set,
            )
            if records:
                self._last_activity = self._clock.now()

    async def _poll(self, max_records: int, timeout_s: float) -> Sequence[RawRecord]:
        """One poll, given up (cancelled) at a stop or when ``--until-idle`` fires: a
        rejoining group holds aiokafka's ``getmany`` beyond its timeout. It is never given
        up while the worker goes on: cancelling ``getmany`` while the group was joining
        left the consumer stuck for good (the chaos suite's rebalance storm). What a
        given-up poll fetched was not dispatched, so it is redelivered; a poll that
        ignores the cancel is waited for, never doubled."""
        task = self._poll_task
        if task is None or task.done():
            task = self._poll_task = asyncio.ensure_future(
                self._source.poll(max_records=max_records, timeout_s=timeout_s)
            )
        idle = () if self._stop_policy.until_idle_s is None else (self._idle_reached(),)
        await until_first(task, self._stopping.wait(), *idle)
        if not task.done():
            task.cancel()
            return ()
        if task.cancelled():  # the one given up at the stop
            return ()
        return task.result()

    async def _idle_reached(self) -> None:
        """Returns once ``--until-idle`` says stop, checked while a poll is held: a join
        that never completes (the embedded broker's group can loop at one generation for
        minutes) must not keep an idle worker running. It stops as at a signal."""
        while not self._idle_done():
            await self._clock.sleep(_IDLE_CHECK_S)

    def _remaining(self) -> int:
        limit = self._stop_policy.max_documents
        if limit is None:
            return _MAX_FETCH
        return max(limit - self.stats.dispatched - self._intake.parked, 0)

    def _should_stop(self) -> bool:
        now = self._clock.now()
        if self._fatal_deadline is not None and now >= self._fatal_deadline:
            log.error("fatal outcome not resolved within the pause; exiting %d", EXIT_FATAL)
            self.exit_code = EXIT_FATAL
            return True
        limit = self._stop_policy.max_documents
        if limit is not None and self.stats.dispatched >= limit:
            return True
        return self._idle_done()

    def _idle_done(self) -> bool:
        """``--until-idle``: nothing pending, and nothing fetched for that long."""
        idle = self._stop_policy.until_idle_s
        if idle is None or not self._assigned_once:
            return False  # the idle clock starts with the first assignment (joins are slow)
        if self.tracker.pending() == 0 and not self._lanes and not self._intake.parked:
            return self._clock.now() - self._last_activity >= idle
        return False

    def _apply_pauses(self) -> None:
        pending = self.tracker.pending()
        if pending >= self._proc.buffer_size:
            self._pause_reasons.add("backpressure")
        elif pending <= self._proc.buffer_size // 2:
            self._pause_reasons.discard("backpressure")
        assigned = self._source.assignment()
        wanted = assigned if self._pause_reasons else self._intake.window_full(assigned)
        if fresh := wanted - self._paused:
            self._source.pause(fresh)
        if freed := (self._paused - wanted) & assigned:
            self._source.resume(freed)
        self._paused = wanted

    # -- dispatch -----------------------------------------------------------------------

    def _dispatch(self, record: RawRecord) -> None:
        tp = (record.topic, record.partition)
        if self._finished.finished(tp, record.offset):
            self.tracker.complete(self.tracker.track(tp, record.offset))
            self.stats.skipped += 1
            return
        if self.tracker.position(tp) is None:  # where this assignment starts, for handovers
            log.info("%s: first record at offset %d", tp, record.offset)
        ticket = self.tracker.track(tp, record.offset)
        self._observer.dispatched(record)
        self.stats.dispatched += 1
        sequence = self.stats.dispatched  # dispatch order: older records' calls go first
        self._lanes.dispatch(record, ticket, sequence)

    def _spawn(self, tp: TP, work: Coroutine[Any, Any, None]) -> None:
        assert self._group is not None
        task = self._group.create_task(work)
        bucket = self._tasks.setdefault(tp, set())
        bucket.add(task)
        task.add_done_callback(bucket.discard)

    # -- one record ---------------------------------------------------------------------

    async def _run_one(self, record: RawRecord, ticket: Ticket, sequence: int) -> None:
        with self._observer.processing(record):
            try:
                output = await self._handler.handle(record, sequence)
            except FatalOutcome:
                await asyncio.Event().wait()  # the gate is shut: held until shutdown cancels
                return
            except CallsStopped:
                return  # draining: no output, no commit; redelivered after a restart
            sent = await self._delivery.deliver(record, output)
            if sent is None:
                return  # stopped while the broker failed it: redelivered after a restart
            output = sent
        if self.tracker.complete(ticket):
            self._count(output)
            full = self.tracker.span(ticket.tp) >= self._proc.buffer_size
            self._commits.completed(window_full=full)
        self._last_activity = self._clock.now()

    def _count_commit(self) -> None:
        self.stats.commits += 1

    def _count(self, output: Output) -> None:
        stats = self.stats
        if output.failure is None:
            stats.results += 1
        else:
            stats.dead_lettered[f"{output.failure.outcome.value}/{output.failure.error_class}"] += 1
        stats.attempts += output.attempts
        self._observer.completed(output)

    # -- rebalance, commit, drain ---------------------------------------------------------

    async def _on_assigned(self, tps: list[TP]) -> None:
        if not self._assigned_once:
            self._assigned_once = True
            self._last_activity = self._clock.now()
        for tp in tps:
            self.tracker.assign(tp)
        if self._finished.begin(tps):
            if self._group is None:
                await self._load_finished(tps)
            else:
                self._group.create_task(self._load_finished(tps))
        log.info("assigned %s", sorted(tps))
        total = self._source.partition_count()
        owned = max(len(tps), len(self._source.assignment()))
        if total and owned:
            for tell in self.on_assignment:
                tell(min(owned, total), total)

    async def _load_finished(self, tps: list[TP]) -> None:
        try:
            async with clock_timeout(self._clock, BROKER_DEADLINE_S):
                await self._finished.load(tps)
        except TimeoutError:
            log.warning("finished offsets not loaded in time; those records are redone")

    async def _on_revoked(self, tps: list[TP]) -> None:
        with self._intake.revoking(tps):
            await self._hand_over(tps)
        log.info("revoked %s", sorted(tps))

    async def _hand_over(self, tps: list[TP]) -> None:
        """Let the revoked partitions' calls in flight end (start no new one), commit."""
        self._lanes.keep_only_running(tps)
        tasks = [t for tp in tps for t in self._tasks.get(tp, ())]
        await self._wait_tasks(tasks, self._proc.drain_deadline_s)
        positions = {tp: self.tracker.position(tp) for tp in tps}
        committed = await self._commits.commit(only=set(tps))
        await self._commits.save_finished()
        if tps:
            log.info("handing over at %s%s", _positions(positions), "" if committed else " failed")
        self._finished.revoked(tps)
        for tp in tps:
            self.tracker.revoke(tp)
            self._tasks.pop(tp, None)
        self._lanes.forget(tps)
        self._paused -= set(tps)

    async def _wait_tasks(self, tasks: list[asyncio.Task[None]], deadline: float | None) -> None:
        if not tasks:
            return
        try:
            async with clock_timeout(self._clock, deadline):
                await asyncio.wait(tasks)
        except TimeoutError:
            pending = [task for task in tasks if not task.done()]
            for task in pending:
                task.cancel()
            log.warning(
                "%d records unfinished at the drain deadline; redelivered later", len(pending)
            )
            await asyncio.wait(pending)

    async def _drain(self) -> None:
        finishing = self._stop_policy.max_documents is not None and not self._stopping.is_set()
        deadline = None if finishing and self.exit_code == 0 else self._proc.drain_deadline_s
        if self.exit_code == EXIT_FATAL:
            deadline = 0.0
        if deadline is not None:
            self._shutdown.set()
        self.set_paused("shutdown", True)
        self._apply_pauses()
        if not finishing:  # let the calls in flight end; start no new one
            for stop_calls in self.on_drain:
                stop_calls()
        await self._wait_tasks([t for bucket in self._tasks.values() for t in bucket], deadline)


def _positions(positions: dict[TP, int | None]) -> str:
    """{(topic, partition): next offset} as one short log field: ``p0=12 p3=-``."""
    return " ".join(
        f"p{tp[1]}={'-' if pos is None else pos}" for tp, pos in sorted(positions.items())
    )
