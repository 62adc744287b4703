"""A consumer-group reader of one topic up to a snapshot of its end, with explicit commits.

Built for DLQ replay (``stream.dlq.replay``), which needs three things a plain topic
reader (``stream.kafka.reader``) does not give:

- **a group position**: where the previous run stopped is the group's committed offset,
  so a second run starts after what the first one finished. Commits are explicit
  (``commit``), never automatic: the caller commits only what the broker acknowledged.
- **a fixed end**: the run stops at the highwater marks taken when it started, so records
  that arrive meanwhile (a replayed document failing again) wait for the next run
  instead of looping inside this one. The snapshot is taken by a separate, group-less
  probe with fetch-based ``highwater()``: Tansu's ``end_offsets()`` is wrong when a batch
  holds several records (design.md section 3).
- **exclusive ownership**: as a group *member* (``subscribe``) two runs with the same
  group split the partitions instead of both replaying everything. A read-only pass
  (``join_group=False``, for dry runs) assigns the partitions by hand: it reads the
  group's committed positions without joining, so it never disturbs a running member,
  and it may not commit.

Records are yielded as ``RawRecord`` (raw bytes, no deserializer), in offset order per
partition. The caller may ``stop_partition`` to end a partition early (its position then
stays wherever the caller last committed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError

from stream.config import KafkaSettings
from stream.errors import DocstreamError
from stream.kafka.client_config import common_kwargs
from stream.kafka.connect import start_client
from stream.kafka.membership import RebalanceRelay, commit_positions
from stream.kafka.reader import raw_records
from stream.kafka.tansu import GroupMember
from stream.ports import TP, RawRecord, RebalanceHandler

__all__ = ["GroupSnapshotReader", "ReaderError", "Window"]

log = logging.getLogger(__name__)

PartitionsCallback = Callable[[list[int]], Awaitable[None]]
_PROBE_WAIT_MS = 100


class ReaderError(DocstreamError):
    """The topic is missing, its end could not be read, or the group could not be joined."""


@dataclass(frozen=True, slots=True)
class Window:
    """What this run reads of one partition: offsets ``start`` (the group's position when
    the partition was assigned) up to, not including, ``end`` (the snapshot)."""

    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(self.end - self.start, 0)


class GroupSnapshotReader:
    """Reads ``topic`` for ``group_id`` from its committed position to the snapshot end.

    ``on_revoked`` (member mode) is awaited before partitions go to another member, while
    this member may still commit them: settle and commit there.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        group_id: str,
        *,
        join_group: bool = True,
        on_revoked: PartitionsCallback | None = None,
        join_timeout_s: float | None = None,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._group_id = group_id
        self._member = join_group
        self._on_revoked = on_revoked
        self._join_timeout_s = join_timeout_s or max(30.0, 3 * kafka.session_timeout_ms / 1000)
        self._group: GroupMember | None = None  # created by start(), once the topic exists
        self._consumer: Any = None
        self._ends: dict[int, int] = {}
        self._windows: dict[int, Window] = {}
        self._assigned_now: list[int] | None = None
        self._stopped: set[int] = set()
        self._buffer: list[RawRecord] = []
        self._rebalancing: float | None = None  # since when, between revoke and assign
        self._started = False

    @property
    def group_id(self) -> str:
        return self._group_id

    @property
    def windows(self) -> dict[int, Window]:
        """The partitions this member reads, by number (filled in by ``start``)."""
        return dict(self._windows)

    async def __aenter__(self) -> GroupSnapshotReader:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Snapshot the end of every partition, then join the group (or assign by hand)."""
        self._ends = await snapshot_ends(self._kafka, self._topic)
        self._group = GroupMember(self._kafka, self._group_id)
        self._consumer = self._group.consumer
        await start_client(self._kafka, self._consumer.start, self._consumer.stop)
        self._started = True
        try:
            if self._member:
                relay = RebalanceRelay(RebalanceHandler(self._assigned, self._revoked))
                self._consumer.subscribe([self._topic], listener=relay)
                await self._await_assignment()
            else:
                tps = [TopicPartition(self._topic, p) for p in sorted(self._ends)]
                self._consumer.assign(tps)
                await self._assigned([(self._topic, p) for p in sorted(self._ends)])
            await self._open_windows()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._started and self._group is not None:
            self._started = False
            await self._group.stop()

    async def poll(self, *, max_records: int, timeout_s: float) -> list[RawRecord]:
        """The next records below the snapshot end, from partitions not yet finished."""
        await self._open_windows()
        if self._buffer:
            out = [r for r in self._buffer if self._wanted(r)]
            self._buffer = out[max_records:]
            return out[:max_records]
        active = [TopicPartition(self._topic, p) for p in self._windows if p not in self._stopped]
        if not active:
            if self._rebalancing is not None:  # keep polling: that is what rejoins the group
                batches = await self._consumer.getmany(
                    timeout_ms=int(timeout_s * 1000), max_records=max_records
                )
                self._buffer.extend(raw_records(batches))
            return []
        batches = await self._consumer.getmany(
            *active, timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        return [r for r in raw_records(batches) if self._wanted(r)]

    async def finished(self) -> bool:
        """True once every assigned partition reached its end or was stopped."""
        await self._open_windows()
        if self._rebalancing is not None:
            if time.monotonic() - self._rebalancing > self._join_timeout_s:
                raise ReaderError(
                    f"consumer group {self._group_id!r}: no new assignment within "
                    f"{self._join_timeout_s:.0f} s of a rebalance"
                )
            return False
        if self._buffer:
            return False
        for partition, window in self._windows.items():
            if partition in self._stopped:
                continue
            position = await self._consumer.position(TopicPartition(self._topic, partition))
            if position < window.end:
                return False
        return True

    def owns(self, partition: int) -> bool:
        """Still this member's and not stopped: records of it may be acted on."""
        return partition in self._windows and partition not in self._stopped

    def stop_partition(self, partition: int) -> None:
        """Read nothing more from ``partition`` in this run."""
        self._stopped.add(partition)
        tp = TopicPartition(self._topic, partition)
        if tp in self._consumer.assignment():
            self._consumer.pause(tp)

    async def commit(self, positions: dict[int, int]) -> bool:
        """Commit {partition: next offset to read}; False if the group took them away."""
        if not self._member:
            raise IllegalStateError("a read-only (join_group=False) reader never commits")
        assigned = {tp.partition for tp in self._consumer.assignment()}
        mine = {(self._topic, p): pos for p, pos in positions.items() if p in assigned}
        if not mine:
            return not positions
        committed = await commit_positions(self._consumer, mine, what="replay commit")
        return committed and len(mine) == len(positions)

    # -- internals ------------------------------------------------------------------------

    def _wanted(self, record: RawRecord) -> bool:
        window = self._windows.get(record.partition)
        return (
            window is not None
            and record.partition not in self._stopped
            and record.offset < window.end
        )

    async def _assigned(self, tps: list[TP]) -> None:
        self._assigned_now = sorted(p for _, p in tps)
        self._rebalancing = None

    async def _revoked(self, tps: list[TP]) -> None:
        partitions = sorted(p for _, p in tps)
        # Called before every (re)join; until the next assignment this member owns nothing
        # and is not finished: the partitions may come back.
        self._rebalancing = time.monotonic()
        if self._on_revoked is not None and partitions:
            await self._on_revoked(partitions)
        for partition in partitions:
            self._windows.pop(partition, None)
        self._buffer = [r for r in self._buffer if r.partition not in partitions]

    async def _await_assignment(self) -> None:
        """Poll until the first assignment (possibly empty: another member holds all)."""
        deadline = time.monotonic() + self._join_timeout_s
        while self._assigned_now is None:
            if time.monotonic() > deadline:
                raise ReaderError(
                    f"could not join consumer group {self._group_id!r} on "
                    f"{self._kafka.bootstrap_servers} within {self._join_timeout_s:.0f} s"
                )
            batches = await self._consumer.getmany(timeout_ms=100, max_records=1)
            self._buffer.extend(raw_records(batches))

    async def _open_windows(self) -> None:
        """Turn a new assignment into windows: start = the position the group resumes at."""
        partitions, self._assigned_now = self._assigned_now, None
        if partitions is None:
            return
        windows = {}
        for partition in partitions:
            tp = TopicPartition(self._topic, partition)
            start = int(await self._consumer.position(tp))
            # Records fetched while waiting for the assignment already moved the position.
            buffered = [r.offset for r in self._buffer if r.partition == partition]
            start = min([start, *buffered])
            end = self._ends.get(partition, 0)
            windows[partition] = Window(partition, start, end)
            if partition in self._stopped:
                self._consumer.pause(tp)
        self._windows = windows


async def snapshot_ends(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    """{partition: highwater} of ``topic`` now, from fetch responses (not ListOffsets).

    Raises ReaderError when the topic does not exist or a partition's end stays unknown.
    """
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=_PROBE_WAIT_MS,
        **common_kwargs(kafka),
    )
    await start_client(kafka, consumer.start, consumer.stop)
    # Let aiokafka's no-group coordinator task start: stopping a consumer before it ever
    # ran makes stop() raise CancelledError (aiokafka 0.14, NoGroupCoordinator.close).
    await asyncio.sleep(0)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ReaderError(f"topic {topic!r} does not exist on {kafka.bootstrap_servers}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        deadline = time.monotonic() + kafka.request_timeout_ms / 1000
        while True:
            await consumer.getmany(*tps, timeout_ms=_PROBE_WAIT_MS, max_records=1)
            ends = {tp.partition: consumer.highwater(tp) for tp in tps}
            if all(end is not None for end in ends.values()):
                return {p: int(end) for p, end in ends.items() if end is not None}
            if time.monotonic() > deadline:
                missing = sorted(p for p, end in ends.items() if end is None)
                raise ReaderError(f"{topic}: no highwater mark for partitions {missing}")
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
