"""Creating the input, results and DLQ topics (idempotent)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from stream.config import KafkaSettings
from stream.errors import DocstreamError
from stream.kafka.client_config import common_kwargs

__all__ = ["ensure_topics"]


async def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create the three topics that don't exist yet; return the names created."""
    names = [kafka.topics.input, kafka.topics.results, kafka.topics.dlq]
    admin = AIOKafkaAdminClient(**common_kwargs(kafka))
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise DocstreamError(
            f"cannot reach Kafka at {kafka.bootstrap_servers} ({exc}); check "
            "kafka.bootstrap_servers or start one with `docstream broker`"
        ) from None
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        topics = [
            NewTopic(n, kafka.topics.partitions, kafka.topics.replication_factor) for n in missing
        ]
        if topics:
            try:
                await admin.create_topics(topics)
            except TopicAlreadyExistsError:
                pass  # a concurrent creator won the race; the topic is there
        return missing
    finally:
        await admin.close()
