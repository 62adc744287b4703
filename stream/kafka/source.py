"""The worker's consumer: one group member, raw bytes out, explicit commits in.

The processor owns the poll loop and calls ``poll`` continuously, however long Claude
takes, so heartbeats and ``max_poll_interval_ms`` never lapse (aiokafka counts the time
between ``getmany`` calls). Backpressure is ``pause``/``resume``, never a blocked loop.
Nothing here decodes values: a deserializer exception would re-raise on every poll.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from aiokafka import TopicPartition

from stream.config import KafkaSettings
from stream.errors import DocstreamError
from stream.kafka.connect import start_client
from stream.kafka.logs import count_repeated_lines
from stream.kafka.membership import RebalanceRelay, commit_positions
from stream.kafka.reader import raw_records
from stream.kafka.static_membership import require_static_membership
from stream.kafka.tansu import GroupMember
from stream.ports import TP, RawRecord, RebalanceHandler

__all__ = ["KafkaSource"]

log = logging.getLogger(__name__)


class KafkaSource:
    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        count_repeated_lines()
        self._kafka = kafka
        self._topic = topic
        self._member = GroupMember(kafka, kafka.group_id, kafka.group_instance_id)
        self._consumer = self._member.consumer

    async def start(self, handler: RebalanceHandler) -> None:
        try:
            await require_static_membership(self._kafka, self._kafka.group_id)
        except DocstreamError:
            await self._consumer.stop()  # built but never started: nothing else to undo
            raise
        await start_client(self._kafka, self._consumer.start, self._consumer.stop)
        self._consumer.subscribe([self._topic], listener=RebalanceRelay(handler))

    async def stop(self) -> None:
        await self._member.stop()

    async def poll(self, *, max_records: int, timeout_s: float) -> Sequence[RawRecord]:
        batches = await self._consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        return raw_records(batches)

    def assignment(self) -> set[TP]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def partition_count(self) -> int | None:
        """Partitions of the input topic in the consumer's metadata (None while unknown)."""
        return len(self._consumer.partitions_for_topic(self._topic) or ()) or None

    def pause(self, tps: Iterable[TP]) -> None:
        self._consumer.pause(*(TopicPartition(t, p) for t, p in tps))

    def resume(self, tps: Iterable[TP]) -> None:
        self._consumer.resume(*(TopicPartition(t, p) for t, p in tps))

    def highwater(self, tp: TP) -> int | None:
        # Fetch-based highwater: Tansu's ListOffsets (end_offsets) is wrong for batches.
        value = self._consumer.highwater(TopicPartition(*tp))
        return None if value is None else int(value)

    async def commit(self, offsets: dict[TP, int]) -> bool:
        """Commit explicit positions; False if the group moved on (they'll be redelivered)."""
        if not offsets:
            return True
        assigned = self.assignment()
        mine = {tp: pos for tp, pos in offsets.items() if tp in assigned}
        if not mine:
            return False
        if await self._member.expelled():
            log.warning("commit of %d partitions skipped: the group dropped this member", len(mine))
            return False
        return await commit_positions(self._consumer, mine)
