"""Starting an aiokafka client: a broker that cannot be reached is one clear error.

Every client (admin, producer, group consumer, topic reader) starts through here, so
``results``, ``dlq``, ``run``, ``publish`` and ``topics`` all say the same line when
Kafka is down, and the half-started client is closed (no "Unclosed AIOKafkaConsumer").
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaConnectionError

from stream.config import KafkaSettings
from stream.errors import DocstreamError

__all__ = ["KafkaUnreachable", "start_client"]


class KafkaUnreachable(DocstreamError):
    """No broker answered at the bootstrap address."""


async def start_client(
    kafka: KafkaSettings, start: Callable[[], Awaitable[None]], close: Callable[[], Awaitable[None]]
) -> None:
    """``await start()``; if no broker answers, ``await close()`` and raise KafkaUnreachable."""
    try:
        await start()
    except KafkaConnectionError as exc:
        # The client is being discarded; a second failure while closing adds nothing.
        with contextlib.suppress(Exception):
            await close()
        raise KafkaUnreachable(
            f"cannot reach Kafka at {kafka.bootstrap_servers} ({exc}); check "
            "kafka.bootstrap_servers (--bootstrap, DOCSTREAM_KAFKA__BOOTSTRAP_SERVERS) or "
            "start one with `docstream broker`"
        ) from None
