"""Starting an aiokafka client: a broker that cannot be reached is one clear error.

Every client (admin, producer, group consumer, topic reader) starts through here, so
``results``, ``dlq``, ``run``, ``publish`` and ``topics`` all say the same line when
Kafka is down, and the half-started client is closed (no "Unclosed AIOKafkaConsumer").
While a client starts, aiokafka's own log of each failed bootstrap attempt is held back
(unless -v asked for info logs): the outcome is reported once, by us. Once running, its
warnings and errors show as usual.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

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
        with _quiet_bootstrap():
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


_client_log = logging.getLogger("aiokafka")
_starting = 0  # clients starting now (several may overlap on one event loop)


@contextlib.contextmanager
def _quiet_bootstrap() -> Iterator[None]:
    global _starting
    quiet = _client_log.getEffectiveLevel() >= logging.WARNING
    saved = _client_log.level
    _starting += 1
    if quiet:
        _client_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        _starting -= 1
        if quiet and _starting == 0:
            _client_log.setLevel(saved)
