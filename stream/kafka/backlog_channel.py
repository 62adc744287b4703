"""The backlog board's channel (``stream.backlog_board``) on a compacted Kafka topic.

``<input>.backlog``, keyed ``group/member``: compaction keeps one note per worker. A
worker reads it from the highwater on (a note is rewritten at least every second, so
history is never needed) and writes through the worker's own producer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiokafka.errors import KafkaError

from stream.backlog_board import BacklogNote, decode, encode
from stream.config import KafkaSettings
from stream.errors import DocstreamError
from stream.kafka.producer import Delivered, KafkaSink
from stream.kafka.reader import read_topic
from stream.kafka.side_topic import SideTopic, open_side_topic, side_topic_name
from stream.ports import SendFailed

__all__ = ["KafkaBacklogChannel", "backlog_topic", "open_backlog_channel"]

log = logging.getLogger(__name__)

_RETRY_S = 1.0  # between a broker error and the next try to read the notes


def backlog_topic(kafka: KafkaSettings) -> str:
    return side_topic_name(kafka, "backlog")


async def open_backlog_channel(kafka: KafkaSettings, sink: KafkaSink) -> KafkaBacklogChannel:
    """Create the compacted topic if needed; notes are written through ``sink``."""
    return KafkaBacklogChannel(await open_side_topic(kafka, sink, "backlog"))


class KafkaBacklogChannel:
    def __init__(self, topic: SideTopic) -> None:
        self._kafka = topic.kafka
        self._sink = topic.sink
        self._topic = topic.name
        self._failing = False

    async def publish(self, note: BacklogNote) -> None:
        """Queue the note without awaiting the acknowledgement: a lost note is replaced
        by the next one within a second. A failure is logged once until one succeeds."""
        key = f"{note.group}/{note.member}".encode()
        try:
            future = await self._sink.send(self._topic, encode(note), key=key)
        except (KafkaError, SendFailed) as exc:
            self._failed(exc)
            return
        future.add_done_callback(self._delivered)

    def _delivered(self, future: asyncio.Future[Delivered]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self._failing = False
        else:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            log.warning("backlog note not written (%s); shares fall back to partitions", exc)
        self._failing = True

    async def follow(self) -> AsyncIterator[BacklogNote]:
        """The notes as they come, for ever: a broker error ends nothing (the board is
        an optimisation, never a reason for the worker to stop); the reader starts
        again after ``_RETRY_S``, and the error is logged once until notes flow again."""
        reported = False
        while True:
            try:
                async for record in read_topic(
                    self._kafka, self._topic, from_beginning=False, follow=True, poll_timeout_s=0.05
                ):
                    reported = False
                    if record.value is None:
                        continue
                    try:
                        yield decode(record.value)
                    except ValueError:
                        log.debug("%s: unreadable note ignored", self._topic)
            except (KafkaError, DocstreamError) as exc:
                if not reported:
                    log.warning("backlog notes not read (%s); shares fall back to partitions", exc)
                reported = True
            await asyncio.sleep(_RETRY_S)
