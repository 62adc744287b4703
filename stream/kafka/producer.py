"""KafkaSink: the producer for results, DLQ records and published documents.

acks=all always; idempotence on except where the embedded broker can't take it
(``client_config``). Two ways to send:

- ``send``: one record, returns once it is queued; the returned future resolves when the
  broker has acknowledged it, which is what the offset tracker waits for. aiokafka's
  per-record Python cost caps this near 30k records/s on two cores.
- ``send_many``: many records for one topic, packed into record batches ourselves
  (``create_batch``/``send_batch``), several times faster; the publisher uses it. Keys
  go to the same partitions as with ``send`` (Kafka's murmur2 partitioner).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from stream.config import KafkaSettings
from stream.kafka.client_config import producer_kwargs
from stream.kafka.connect import start_client
from stream.kafka.partitioner import partition_for_key
from stream.ports import SendFailed

__all__ = [
    "BatchDelivered",
    "Delivered",
    "KafkaSink",
    "OutRecord",
    "as_send_failed",
    "resolve_into",
]

T = TypeVar("T")

log = logging.getLogger(__name__)

# Closing flushes queued records; with the broker down that never ends (SIGTERM must).
_CLOSE_DEADLINE_S = 5.0
# Broker trouble that aiokafka marks non-retriable although the record is not at fault:
# a batch that expired waiting for a broker that is down or moving leaders.
_BROKER_TROUBLE: tuple[type[KafkaError], ...] = (KafkaTimeoutError,)


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class BatchDelivered:
    """One acknowledged record batch: offsets ``base_offset .. base_offset + count - 1``."""

    topic: str
    partition: int
    base_offset: int
    count: int


class OutRecord(NamedTuple):
    """One record for ``send_many``. A NamedTuple, not a frozen dataclass: it is built
    once per published document on the hot path, and a NamedTuple is immutable too but
    costs about half as much to construct."""

    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()


class KafkaSink:
    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._max_request_size = kafka.max_request_size
        self._producer = AIOKafkaProducer(**producer_kwargs(kafka))
        self._round_robin = itertools.count(random.randrange(1 << 16))

    async def start(self) -> None:
        await start_client(self._kafka, self._producer.start, self._producer.stop)

    async def stop(self) -> None:
        """Flushes what is queued, then closes; gives up after ``_CLOSE_DEADLINE_S``."""
        try:
            async with asyncio.timeout(_CLOSE_DEADLINE_S):
                await self._producer.stop()
        except TimeoutError:
            # A broker that is down holds the flush forever; what was not acknowledged
            # belongs to uncommitted offsets and is redelivered.
            log.warning("producer close took over %.0f s; closed anyway", _CLOSE_DEADLINE_S)

    async def __aenter__(self) -> KafkaSink:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> asyncio.Future[Delivered]:
        """Queue one record; the future resolves when the broker acknowledged it (acks=all).

        A broker error, raised here or set on the future, becomes ``SendFailed`` with
        aiokafka's own retriable flag (see ``_BROKER_TROUBLE``)."""
        try:
            queued = await self._producer.send(
                topic, value, key=key, headers=list(headers) or None, partition=partition
            )
        except KafkaError as exc:
            raise as_send_failed(exc) from exc
        delivered: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()
        queued.add_done_callback(
            lambda fut: resolve_into(fut, delivered, _to_delivered, as_send_failed)
        )
        return delivered

    async def warm_up(self, topic: str) -> None:
        """Fetch ``topic``'s metadata now. The refresh that a first send to a new topic
        triggers can fail sends to other topics in flight at that moment on the embedded
        broker (NotLeaderForPartitionError, measured). The processor resends those
        (``stream.delivery``), so this only spares that round of resends."""
        await self._producer.partitions_for(topic)

    async def send_and_wait(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> Delivered:
        future = await self.send(topic, value, key=key, headers=headers, partition=partition)
        return await future

    async def send_many(
        self, topic: str, records: Iterable[OutRecord]
    ) -> list[asyncio.Future[BatchDelivered]]:
        """Queue many records as whole record batches; one future per batch.

        Returns once every record is queued (aiokafka holds one batch per partition in
        flight, so this waits while the broker catches up: natural backpressure). A
        record larger than ``max_request_size`` raises MessageSizeTooLargeError; batches
        submitted before it still go out, so callers should check sizes up front (the
        publisher does).
        """
        partitions = sorted(await self._producer.partitions_for(topic))
        open_batches: dict[int, _OpenBatch] = {}
        futures: list[asyncio.Future[BatchDelivered]] = []
        check_size, partition_for = self._check_size, self._partition_for
        for record in records:
            check_size(record)
            partition = partition_for(record.key, partitions)
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = _OpenBatch(self._producer.create_batch())
            if not batch.append(record):
                futures.append(await self._submit(batch, topic, partition))
                batch = open_batches[partition] = _OpenBatch(self._producer.create_batch())
                batch.append(record)  # an empty batch always takes one record
        for partition, batch in open_batches.items():
            futures.append(await self._submit(batch, topic, partition))
        return futures

    async def flush(self) -> None:
        """Wait until everything queued so far was acknowledged (or failed)."""
        await self._producer.flush()

    def _partition_for(self, key: bytes | None, partitions: list[int]) -> int:
        if key is None:
            return partitions[next(self._round_robin) % len(partitions)]
        return partition_for_key(key, partitions)

    def _check_size(self, record: OutRecord) -> None:
        size = len(record.value) + (len(record.key) if record.key is not None else 0)
        if record.headers:
            size += sum(len(k) + len(v) for k, v in record.headers)
        if size > self._max_request_size:
            raise MessageSizeTooLargeError(
                f"a record of {size} bytes is over kafka.max_request_size "
                f"({self._max_request_size})"
            )

    async def _submit(
        self, batch: _OpenBatch, topic: str, partition: int
    ) -> asyncio.Future[BatchDelivered]:
        batch.builder.close()
        count = batch.count
        queued = await self._producer.send_batch(batch.builder, topic, partition=partition)
        delivered: asyncio.Future[BatchDelivered] = asyncio.get_running_loop().create_future()
        queued.add_done_callback(
            lambda fut: resolve_into(
                fut,
                delivered,
                lambda meta: BatchDelivered(meta.topic, meta.partition, meta.offset, count),
            )
        )
        return delivered


class _OpenBatch:
    __slots__ = ("builder", "count")

    def __init__(self, builder: Any) -> None:
        self.builder = builder
        self.count = 0

    def append(self, record: OutRecord) -> bool:
        headers = record.headers
        if type(headers) is not list:  # aiokafka's C record builder takes lists only
            headers = list(headers)
        meta = self.builder.append(
            timestamp=None, key=record.key, value=record.value, headers=headers
        )
        if meta is None:
            return False
        self.count += 1
        return True


def _to_delivered(meta: Any) -> Delivered:
    return Delivered(meta.topic, meta.partition, meta.offset)


def as_send_failed(exc: BaseException) -> BaseException:
    """aiokafka's error as the ports' ``SendFailed``; anything else (a bug) unchanged."""
    if not isinstance(exc, KafkaError):
        return exc
    retriable = bool(exc.retriable) or isinstance(exc, _BROKER_TROUBLE)
    failed = SendFailed(f"{type(exc).__name__}: {exc}", retriable=retriable)
    failed.__cause__ = exc
    return failed


def resolve_into(
    source: asyncio.Future[Any],
    target: asyncio.Future[T],
    convert: Callable[[Any], T],
    translate: Callable[[BaseException], BaseException] = lambda exc: exc,
) -> None:
    """Copy aiokafka's outcome onto our future, converting RecordMetadata on success."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(translate(error))
    else:
        target.set_result(convert(source.result()))
