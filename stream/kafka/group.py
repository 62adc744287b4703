"""Reading a consumer group's committed positions (for verification, lag and tooling)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.config import KafkaSettings
from stream.kafka.client_config import common_kwargs
from stream.kafka.connect import start_client

__all__ = ["committed_offsets"]


async def committed_offsets(kafka: KafkaSettings, group_id: str, topic: str) -> dict[int, int]:
    """{partition: committed position} for ``topic``; partitions never committed are absent.

    Asks the group coordinator without joining the group, so a running worker is not
    disturbed. (Tansu needs explicit partitions for OffsetFetch; we always pass them.)
    """
    consumer = AIOKafkaConsumer(group_id=group_id, enable_auto_commit=False, **common_kwargs(kafka))
    await start_client(kafka, consumer.start, consumer.stop)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        out = {}
        for partition in sorted(partitions):
            position = await consumer.committed(TopicPartition(topic, partition))
            if position is not None:
                out[partition] = int(position)
        return out
    finally:
        await consumer.stop()
