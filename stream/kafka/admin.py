"""Creating the input, results and DLQ topics (idempotent: existing topics are fine)."""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from stream.config import KafkaSettings
from stream.errors import DocstreamError
from stream.kafka.client_config import common_kwargs
from stream.kafka.connect import start_client

__all__ = [
    "KafkaAdminError",
    "TopicMissing",
    "ensure_compacted_topic",
    "ensure_topics",
    "require_topics",
    "topic_names",
    "topic_partitions",
]

_TOPIC_ALREADY_EXISTS = 36


class KafkaAdminError(DocstreamError):
    """The cluster is unreachable or refused to create a topic; the message says which."""


class TopicMissing(KafkaAdminError):
    """A topic a command needs does not exist (reading it would wait or show nothing)."""


async def require_topics(kafka: KafkaSettings, names: list[str]) -> None:
    """Raise TopicMissing naming the first of ``names`` that does not exist."""
    present = await topic_partitions(kafka, names)
    missing = [name for name in names if name not in present]
    if missing:
        raise TopicMissing(
            f"topic {missing[0]!r} does not exist on {kafka.bootstrap_servers}; check the "
            "topic name (--topic, kafka.topics) or create the topics with "
            "`docstream topics create`"
        )


def topic_names(kafka: KafkaSettings) -> list[str]:
    """The three topics docstream uses, in a fixed order: input, results, DLQ."""
    return [kafka.topics.input, kafka.topics.results, kafka.topics.dlq]


async def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create whichever of the three topics do not exist yet; return the names created.

    Creating explicitly matters: a topic auto-created by a produce gets the broker's
    default partition count (4 on Tansu, often 1 on Kafka), not ``topics.partitions``.
    """
    admin = await _connect(kafka)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topic_names(kafka) if name not in existing]
        if not missing:
            return []
        topics = [
            NewTopic(name, kafka.topics.partitions, kafka.topics.replication_factor)
            for name in missing
        ]
        response = await admin.create_topics(topics)
        return _created(response, kafka.bootstrap_servers)
    except KafkaError as exc:
        raise KafkaAdminError(f"creating topics on {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


async def ensure_compacted_topic(kafka: KafkaSettings, name: str) -> bool:
    """Create ``name`` with ``cleanup.policy=compact`` unless it exists; True if created.

    Compaction keeps the latest record per key, so a store keyed by content digest stays
    as large as the number of distinct keys, not the number of writes."""
    admin = await _connect(kafka)
    try:
        if name in set(await admin.list_topics()):
            return False
        topic = NewTopic(
            name,
            kafka.topics.partitions,
            kafka.topics.replication_factor,
            topic_configs={"cleanup.policy": "compact"},
        )
        response = await admin.create_topics([topic])
        return bool(_created(response, kafka.bootstrap_servers))
    except KafkaError as exc:
        raise KafkaAdminError(f"creating topic {name} on {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


async def topic_partitions(kafka: KafkaSettings, names: list[str]) -> dict[str, int]:
    """{topic: partition count} for those of ``names`` that exist.

    Lists all topics rather than asking for the names: a Metadata request naming an
    unknown topic auto-creates it on brokers that allow that (Tansu does).
    """
    admin = await _connect(kafka)
    try:
        described = await admin.describe_topics(None)
    except KafkaError as exc:
        raise KafkaAdminError(f"describing topics on {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()
    wanted = set(names)
    return {t["topic"]: len(t["partitions"]) for t in described if t["topic"] in wanted}


async def _connect(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(**common_kwargs(kafka))
    await start_client(kafka, admin.start, admin.close)
    return admin


def _created(response: Any, bootstrap: str) -> list[str]:
    """Names the broker created; a concurrent creator winning the race is not an error."""
    created = []
    failures = []
    for topic, code, *rest in response.topic_errors:
        if code == 0:
            created.append(topic)
        elif code != _TOPIC_ALREADY_EXISTS:
            detail = rest[0] if rest and rest[0] else for_code(code).__name__
            failures.append(f"{topic}: {detail}")
    if failures:
        raise KafkaAdminError(f"{bootstrap} refused to create " + "; ".join(failures))
    return created
