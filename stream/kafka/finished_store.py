"""The finished-offsets ledger (``stream.finished``) on a compacted Kafka topic.

One record per (group, input topic, partition), keyed ``group/topic/partition``; the
latest one wins, so compaction keeps the topic as small as the number of partitions
(a broker that does not compact, like the embedded one, keeps every write and the load
at assignment reads them all).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from stream.config import KafkaSettings
from stream.finished import FinishedAbove, decode, encode
from stream.kafka.producer import KafkaSink
from stream.kafka.reader import read_topic
from stream.kafka.side_topic import SideTopic, open_side_topic, side_topic_name
from stream.ports import TP, SendFailed

__all__ = ["KafkaFinishedLedger", "finished_topic", "open_finished_ledger"]

log = logging.getLogger(__name__)


def finished_topic(kafka: KafkaSettings) -> str:
    return side_topic_name(kafka, "finished")


async def open_finished_ledger(kafka: KafkaSettings, sink: KafkaSink) -> KafkaFinishedLedger:
    """Create the compacted topic if needed; the ledger writes through ``sink``."""
    return KafkaFinishedLedger(await open_side_topic(kafka, sink, "finished"))


class KafkaFinishedLedger:
    def __init__(self, topic: SideTopic) -> None:
        self._kafka = topic.kafka
        self._sink = topic.sink
        self._topic = topic.name

    def _key(self, tp: TP) -> bytes:
        return f"{self._kafka.group_id}/{tp[0]}/{tp[1]}".encode()

    async def load(self, tps: Sequence[TP]) -> dict[TP, FinishedAbove]:
        wanted = {self._key(tp): tp for tp in tps}
        found: dict[TP, FinishedAbove] = {}
        async for record in read_topic(self._kafka, self._topic):
            tp = wanted.get(record.key or b"")
            if tp is None or record.value is None:
                continue
            try:
                found[tp] = decode(record.value)
            except (ValueError, KeyError, TypeError):
                log.warning("%s: unreadable finished-offsets record ignored", self._topic)
        return found

    async def save(self, states: dict[TP, FinishedAbove]) -> bool:
        """Write and await the broker's acknowledgement; False if any write failed."""
        try:
            futures = [
                await self._sink.send(self._topic, encode(state), key=self._key(tp))
                for tp, state in states.items()
            ]
            await asyncio.gather(*futures)
        except (KafkaError, SendFailed) as exc:
            log.warning("finished offsets not saved (%s)", exc)
            return False
        return True
