"""aiokafka keyword arguments from KafkaSettings: security, producer and consumer tuning.

One place decides how every client talks to the cluster, so the admin client, the
producer, the group consumer and the topic reader cannot drift apart (e.g. one of them
forgetting SASL, or a consumer with a deserializer).
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.helpers import create_ssl_context

from stream.config import KafkaSettings

__all__ = [
    "common_kwargs",
    "consumer_kwargs",
    "fetch_wait_ms",
    "idempotence_enabled",
    "producer_kwargs",
]

log = logging.getLogger(__name__)
_warned = False

# Tansu holds a fetch that found nothing for its whole max wait, even when records
# arrive meanwhile (a Kafka broker answers as soon as fetch_min_bytes are there). With
# aiokafka's 500 ms an idle worker saw a new document about 250 ms late, and so did the
# reader of its result: publish -> result read back was 252 ms at p50, 15.6 ms with
# 20 ms waits (`docstream bench latency`). The cost is an empty fetch every 20 ms.
_EMBEDDED_FETCH_WAIT_MS = 20


def fetch_wait_ms(kafka: KafkaSettings) -> int:
    """How long a consumer's fetch may wait at the broker for records to arrive."""
    if kafka.profile == "embedded":
        return min(kafka.fetch_max_wait_ms, _EMBEDDED_FETCH_WAIT_MS)
    return kafka.fetch_max_wait_ms


def common_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection and security settings shared by admin, producer and consumers."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        # No cafile: the system trust store (create_default_context) verifies the brokers.
        kwargs["ssl_context"] = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None
        )
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return kwargs


def idempotence_enabled(kafka: KafkaSettings) -> bool:
    """Idempotence unless the embedded profile must switch it off (design.md section 3).

    Tansu rejects aiokafka's InitProducerId v0, so an idempotent producer cannot even
    start there. Says so once per process, so nobody mistakes it for the production
    setting.
    """
    global _warned
    if kafka.profile == "embedded":
        if kafka.enable_idempotence and not _warned:
            _warned = True
            log.info(
                "embedded profile: idempotent producer off (Tansu rejects InitProducerId v0); "
                "acks=all stays on"
            )
        return False
    return kafka.enable_idempotence


def producer_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """acks=all always: the offset tracker commits only what the broker fully acknowledged."""
    return {
        **common_kwargs(kafka),
        "acks": "all",
        "enable_idempotence": idempotence_enabled(kafka),
        "compression_type": None if kafka.compression == "none" else kafka.compression,
        "linger_ms": kafka.linger_ms,
        "max_request_size": kafka.max_request_size,
    }


def consumer_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Group consumer settings. No deserializers: our code decodes the bytes, because a
    deserializer exception would re-raise on every poll (aiokafka issue #744).
    ``earliest``, because ``latest`` relies on ListOffsets, which Tansu gets wrong."""
    return {
        **common_kwargs(kafka),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": kafka.session_timeout_ms,
        "heartbeat_interval_ms": kafka.heartbeat_interval_ms,
        "max_poll_interval_ms": kafka.max_poll_interval_ms,
        "fetch_max_wait_ms": fetch_wait_ms(kafka),
    }
