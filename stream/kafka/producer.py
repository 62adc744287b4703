"""KafkaSink: the producer for results, DLQ records and published documents.

acks=all always; idempotence on except where the embedded broker can't take it.
``send`` returns once the record is queued; its future resolves when the broker has
acknowledged it, which is what the offset tracker waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from aiokafka import AIOKafkaProducer

from stream.config import KafkaSettings
from stream.kafka.client_config import producer_kwargs

__all__ = ["Delivered", "KafkaSink"]


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str
    partition: int
    offset: int


class KafkaSink:
    def __init__(self, kafka: KafkaSettings) -> None:
        self._producer = AIOKafkaProducer(**producer_kwargs(kafka))

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

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
        queued = await self._producer.send(
            topic, value, key=key, headers=list(headers) or None, partition=partition
        )
        delivered: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()

        def done(fut: asyncio.Future[object]) -> None:
            if delivered.done():
                return
            if fut.cancelled():
                delivered.cancel()
            elif (error := fut.exception()) is not None:
                delivered.set_exception(error)
            else:
                meta = fut.result()
                delivered.set_result(Delivered(meta.topic, meta.partition, meta.offset))  # type: ignore[attr-defined]

        queued.add_done_callback(done)
        return delivered

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

    async def flush(self) -> None:
        await self._producer.flush()
