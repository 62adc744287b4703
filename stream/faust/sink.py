"""FaustSink: the Faust app's producer as the core's ``ResultSink``.

The stage writes results and dead letters through ``stream.delivery`` like the worker
does, so a failed write follows the same policy: resent while the failure is the
broker's, an ``output_rejected`` dead letter only when the broker refused that record.
faust-streaming's producer is aiokafka underneath; its errors are mapped by the Kafka
adapter's own ``as_send_failed`` (aiokafka's ``retriable`` flag and the same table of
broker trouble), so both integrations judge a failed write the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from faust.exceptions import ProducerSendError
from faust.types import AppT

from stream.kafka.producer import as_send_failed, resolve_into
from stream.ports import SendFailed

__all__ = ["FaustSink", "broker_send_failed"]


class FaustSink:
    """Sends with ``app.producer`` (looked up per send: Faust builds it lazily)."""

    def __init__(self, app: AppT) -> None:
        self._app = app

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        """Queue one record; the future resolves to the broker's RecordMetadata."""
        try:
            pending = await self._app.producer.send(
                topic, key, value, partition, None, list(headers)
            )
        except Exception as exc:
            if (failed := broker_send_failed(exc)) is None:
                raise
            raise failed from failed.__cause__  # aiokafka's error: it names what went wrong
        queued = asyncio.ensure_future(pending)  # aiokafka's own future, no new task
        delivered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queued.add_done_callback(lambda done: resolve_into(done, delivered, _same, _as_send_failed))
        return delivered


def _same(meta: Any) -> Any:
    return meta


def _as_send_failed(error: BaseException) -> BaseException:
    """The acknowledgement's error as ``SendFailed`` when it is the broker's."""
    failed = broker_send_failed(error) if isinstance(error, Exception) else None
    return failed or error


def broker_send_failed(exc: Exception) -> SendFailed | None:
    """A broker error as ``SendFailed``; None for anything else (a bug: raised as is).

    Faust raises what aiokafka raised while queueing as ``ProducerSendError`` from it;
    the acknowledgement fails with aiokafka's error itself."""
    cause = exc.__cause__ if isinstance(exc, ProducerSendError) else exc
    failed = as_send_failed(cause) if cause is not None else None
    return failed if isinstance(failed, SendFailed) else None
