"""Replaying the dead-letter queue: send selected DLQ records back to be processed again.

Each selected record is republished (``stream.dlq.republish``) with its original value,
key and headers, ``docstream.replay.count`` one higher and ``docstream.replay.from``
naming the DLQ record. A record whose count has reached ``processing.max_replays`` is
skipped (and reported) unless ``force``.

Idempotence: a position per filter set
---------------------------------------
Replay is a consumer group on the DLQ topic with explicit commits. Its committed offset
per partition says "every DLQ record below this was dealt with by this replay": sent and
acknowledged by the broker, skipped for max replays, or not selected by the filters.
Commits happen only after the records below the position were acknowledged, after every
fetched batch, every ``processing.commit_interval_s`` and when the run ends, is
interrupted (task cancelled, Ctrl-C) or fails. So a second run replays nothing new, and
an interrupted run, run again, replays nothing twice except records that were in flight
when the process died without reaching its clean-up (a ``kill -9``): at most one batch.

Records a filter rejects are passed for good *by that filter set*. A later run with other
filters must not inherit that position, or it would never see them. So the group is
derived from the normalised filters: ``<kafka.group_id>.replay`` with no filter,
``<kafka.group_id>.replay.<fingerprint>`` with some (``ReplayFilters.fingerprint``),
unless ``group`` names one. The price: filter sets that overlap replay their common
records once each. ``limit`` and ``force`` are not part of the name: ``limit`` stops a
run early (the position stops at the last record dealt with, so the next run continues),
and to replay records once skipped for max replays, select them (``--id``) with ``force``.
``until`` never moves a position past a record newer than it (``stream.dlq.filters``).

The run reads each partition from the group's position up to the end it had when the run
started (``stream.kafka.replay_source``): documents that fail again while it runs wait
for the next run instead of looping. Two runs of one filter set at once split the
partitions (group protocol); on a rebalance the leaving owner settles and commits first,
and a record whose partition was revoked while it waited for the rate bucket is left to
the new owner. A dry run reads the same records from the same positions without joining
the group, sends nothing and commits nothing.

``rate`` paces sends with a token bucket (burst ``rate / 10``, at least 1) and bounds the
batch size, so the fetches that keep the membership alive come at least every ~10 s.
The replay's ``send`` span covers queueing only; the acknowledgement arrives in a
callback that completes the offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from stream.concurrency import Clock, MonotonicClock, TokenBucket
from stream.config import Settings
from stream.dlq.entry import DlqEntry, read_entry
from stream.dlq.filters import ReplayFilters, Selection, Verdict
from stream.dlq.republish import ReplayItem, describe, republish
from stream.errors import DocstreamError
from stream.kafka.producer import Delivered, KafkaSink
from stream.kafka.replay_source import GroupSnapshotReader
from stream.offsets import OffsetTracker, Ticket
from stream.ports import RawRecord
from stream.telemetry import tracing

__all__ = [
    "ReplayError",
    "ReplayProgress",
    "ReplaySummary",
    "replay",
    "replay_group",
]

log = logging.getLogger(__name__)

_BATCH = 100  # records per fetch, and the most a hard kill can replay twice
_MAX_INFLIGHT = 500
_POLL_S = 0.2

ProgressCallback = Callable[["ReplayProgress"], None]


class ReplayError(DocstreamError):
    """The replay could not run or stopped because a record could not be sent."""


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    total: int  # records between the group's positions and the snapshot ends
    examined: int
    replayed: int  # acknowledged by the broker (dry run: listed)
    skipped: int  # max replays reached
    filtered_out: int


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    group: str
    dlq_topic: str
    filters: str  # ReplayFilters.describe()
    mode: Literal["replay", "dry_run"]
    examined: int
    replayed: int  # acknowledged records sent (0 in a dry run)
    skipped_max_replays: int
    filtered_out: int
    invalid: int  # DLQ records without valid docstream headers (never replayed)
    limit_reached: bool
    deferred_partitions: tuple[int, ...]  # stopped before a record newer than --until
    dry_run: tuple[ReplayItem, ...]  # what a real run would replay (dry run only)
    skipped: tuple[ReplayItem, ...]  # the records skipped for max replays
    by_target: dict[str, int] = field(default_factory=dict)


def replay_group(base_group: str, filters: ReplayFilters) -> str:
    """``<group>.replay`` for the whole DLQ, ``<group>.replay.<fingerprint>`` per filter set."""
    if filters.is_empty():
        return f"{base_group}.replay"
    return f"{base_group}.replay.{filters.fingerprint()}"


async def replay(
    settings: Settings,
    filters: ReplayFilters,
    *,
    to: str | None,
    dry_run: bool,
    rate: float | None,
    force: bool,
    group: str | None,
    on_progress: ProgressCallback | None = None,
    clock: Clock | None = None,
    now: Callable[[], datetime] | None = None,
) -> ReplaySummary:
    """Replay the DLQ records ``filters`` select; see the module docstring."""
    kafka = settings.kafka
    if to is not None and to == kafka.topics.dlq:
        raise ReplayError(f"--to {to}: replaying the DLQ into itself would only re-queue it")
    # One document per fetch at the slowest rate must still fetch well within
    # max_poll_interval_ms, or the group would drop this member mid-run.
    min_rate = 3000 / kafka.max_poll_interval_ms
    if rate is not None and rate < min_rate:
        raise ReplayError(f"rate must be at least {min_rate:g} documents/s, got {rate}")
    clock = clock or MonotonicClock()
    selection = filters.resolve((now or _utcnow)())
    group_id = group or replay_group(kafka.group_id, filters)
    run = _Run(settings, selection, to=to, force=force, dry_run=dry_run, clock=clock)
    run.on_progress = on_progress
    if rate is not None:
        run.bucket = TokenBucket(max(1.0, rate / 10), rate, clock)
    reader = GroupSnapshotReader(
        kafka, kafka.topics.dlq, group_id, join_group=not dry_run, on_revoked=run.on_revoked
    )
    async with reader:
        run.reader = reader
        if dry_run:
            await run.run()
        else:
            async with KafkaSink(kafka) as sink:
                run.sink = sink
                await run.run()
    return run.summary(group_id, kafka.topics.dlq)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Run:
    """One pass over the DLQ: decide per record, send, complete offsets on ack, commit."""

    def __init__(
        self,
        settings: Settings,
        selection: Selection,
        *,
        to: str | None,
        force: bool,
        dry_run: bool,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._selection = selection
        self._limit = selection.filters.limit
        self._to = to
        self._force = force
        self._dry_run = dry_run
        self._clock = clock
        self.reader: GroupSnapshotReader | None = None
        self.sink: KafkaSink | None = None
        self.bucket: TokenBucket | None = None
        self.on_progress: ProgressCallback | None = None
        self._tracker = OffsetTracker()
        self._pending: set[asyncio.Future[Delivered]] = set()
        self._failure: BaseException | None = None
        self._last_commit = clock.now()
        self._total = 0
        self._sent = 0
        self._counts: Counter[str] = Counter()
        self._by_target: Counter[str] = Counter()
        self._planned: list[ReplayItem] = []
        self._skipped: list[ReplayItem] = []
        self._deferred: set[int] = set()
        self._limit_reached = False

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        reader = self._reader()
        self._total = sum(w.size for w in reader.windows.values())
        self._progress()
        try:
            while not self._stopping() and not await reader.finished():
                records = await reader.poll(max_records=self._batch(), timeout_s=_POLL_S)
                for record in records:
                    if self._stopping():
                        break
                    if reader.owns(record.partition):  # not stopped at --until, not revoked
                        await self._handle(record)
                    if self._clock.now() - self._last_commit >= self._interval():
                        await self._commit()
                await self._commit()
        finally:
            await self._settle()
        if self._failure is not None:
            raise ReplayError(
                f"stopped: a replayed record was not accepted ({self._failure}); "
                "everything acknowledged before it is committed, run again to continue"
            ) from self._failure

    def _batch(self) -> int:
        """Records per fetch: at most ~10 s of pacing, so the fetches that keep the group
        membership alive (``max_poll_interval_ms``) never wait behind a long batch."""
        if self.bucket is None:
            return _BATCH
        return max(1, min(_BATCH, int(self.bucket.refill_per_s * 10)))

    def _stopping(self) -> bool:
        return self._limit_reached or self._failure is not None

    async def _handle(self, record: RawRecord) -> None:
        entry = read_entry(record)
        verdict = self._selection.verdict(entry)
        if verdict is Verdict.TOO_NEW:
            self._reader().stop_partition(record.partition)
            self._deferred.add(record.partition)
            return
        if verdict is Verdict.MATCH and self._limit is not None and self._sent >= self._limit:
            self._limit_reached = True
            return
        ticket = self._tracker.track((record.topic, record.partition), record.offset)
        if verdict is Verdict.MATCH:
            await self._selected(entry, ticket)
        else:
            self._counts["invalid" if verdict is Verdict.INVALID else "filtered_out"] += 1
            self._tracker.complete(ticket)
        self._counts["examined"] += 1  # decided, and if selected, queued
        self._progress()

    async def _selected(self, entry: DlqEntry, ticket: Ticket) -> None:
        assert entry.letter is not None
        target = self._to or entry.letter.original_topic
        max_replays = self._settings.processing.max_replays
        if entry.letter.replay_count >= max_replays and not self._force:
            self._counts["skipped"] += 1
            self._skipped.append(describe(entry, target))
            self._tracker.complete(ticket)
            return
        if self._dry_run:
            self._sent += 1
            self._planned.append(describe(entry, target))
            self._tracker.complete(ticket)
            return
        await self._send(entry, ticket)

    async def _send(self, entry: DlqEntry, ticket: Ticket) -> None:
        out = republish(entry, to=self._to)
        await self._pace()
        if len(self._pending) >= _MAX_INFLIGHT:
            await asyncio.wait(set(self._pending), return_when=asyncio.FIRST_COMPLETED)
        if not self._reader().owns(entry.record.partition):
            return  # revoked while we waited: its new owner sends it
        self._sent += 1
        assert self.sink is not None
        headers = list(out.headers)
        # The span covers queueing; the ack completes the offset in ``_acked``.
        with tracing.send_span(out.topic, key=out.key, headers=headers):
            future = await self.sink.send(out.topic, out.value, key=out.key, headers=headers)
        self._pending.add(future)
        future.add_done_callback(partial(self._acked, ticket, out.topic))

    def _acked(self, ticket: Ticket, target: str, future: asyncio.Future[Delivered]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            self._failure = self._failure or asyncio.CancelledError("send cancelled")
            return
        error = future.exception()
        if error is not None:
            self._failure = self._failure or error
            return
        self._tracker.complete(ticket)
        self._counts["replayed"] += 1
        self._by_target[target] += 1
        self._progress()

    async def _pace(self) -> None:
        bucket = self.bucket
        if bucket is None:
            return
        wait = bucket.time_until(1.0)
        if wait > 0:
            await self._clock.sleep(wait)
        bucket.debit(1.0)

    # -- commits ----------------------------------------------------------------------------

    def _interval(self) -> float:
        return self._settings.processing.commit_interval_s

    async def _commit(self, only: set[int] | None = None) -> None:
        self._last_commit = self._clock.now()
        if self._dry_run:
            return
        offsets = self._tracker.committable()
        if only is not None:
            offsets = {tp: pos for tp, pos in offsets.items() if tp[1] in only}
        if not offsets:
            return
        if await self._reader().commit({tp[1]: pos for tp, pos in offsets.items()}):
            self._tracker.mark_committed(offsets)

    async def _settle(self) -> None:
        """Wait for the records in flight (bounded), then commit what was acknowledged."""
        if self._pending:
            timeout = self._settings.kafka.request_timeout_ms / 1000
            _, late = await asyncio.wait(set(self._pending), timeout=timeout)
            if late:
                log.warning("%d replayed records unacknowledged; not committed", len(late))
            await asyncio.sleep(0)  # let the done callbacks run
        await self._commit()

    async def on_revoked(self, partitions: list[int]) -> None:
        """Another replay of the same group joined: commit ours before they move."""
        await self._settle_partitions(set(partitions))
        for tp in [tp for tp in self._tracker.partitions() if tp[1] in partitions]:
            self._tracker.revoke(tp)

    async def _settle_partitions(self, partitions: set[int]) -> None:
        if self._pending:
            timeout = self._settings.kafka.request_timeout_ms / 1000
            await asyncio.wait(set(self._pending), timeout=timeout)
            await asyncio.sleep(0)
        await self._commit(only=partitions)

    # -- reporting --------------------------------------------------------------------------

    def _reader(self) -> GroupSnapshotReader:
        assert self.reader is not None
        return self.reader

    def _progress(self) -> None:
        if self.on_progress is None:
            return
        counts = self._counts
        self.on_progress(
            ReplayProgress(
                total=self._total,
                examined=counts["examined"],
                replayed=len(self._planned) if self._dry_run else counts["replayed"],
                skipped=counts["skipped"],
                filtered_out=counts["filtered_out"] + counts["invalid"],
            )
        )

    def summary(self, group: str, dlq_topic: str) -> ReplaySummary:
        counts = self._counts
        return ReplaySummary(
            group=group,
            dlq_topic=dlq_topic,
            filters=self._selection.filters.describe(),
            mode="dry_run" if self._dry_run else "replay",
            examined=counts["examined"],
            replayed=counts["replayed"],
            skipped_max_replays=counts["skipped"],
            filtered_out=counts["filtered_out"],
            invalid=counts["invalid"],
            limit_reached=self._limit_reached,
            deferred_partitions=tuple(sorted(self._deferred)),
            dry_run=tuple(self._planned),
            skipped=tuple(self._skipped),
            by_target=dict(self._by_target),
        )
