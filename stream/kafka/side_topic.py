"""A compacted topic of ours beside the input topic (``<input>.<suffix>``).

The finished-offsets ledger and the backlog board each keep their state in one, keyed
so that compaction leaves one record per key, and write it through the worker's own
producer.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.config import KafkaSettings
from stream.kafka.admin import ensure_compacted_topic
from stream.kafka.producer import KafkaSink

__all__ = ["SideTopic", "open_side_topic", "side_topic_name"]


def side_topic_name(kafka: KafkaSettings, suffix: str) -> str:
    return f"{kafka.topics.input}.{suffix}"


@dataclass(frozen=True, slots=True)
class SideTopic:
    kafka: KafkaSettings
    sink: KafkaSink
    name: str


async def open_side_topic(kafka: KafkaSettings, sink: KafkaSink, suffix: str) -> SideTopic:
    """Create the compacted topic if needed and get the producer's metadata for it."""
    name = side_topic_name(kafka, suffix)
    await ensure_compacted_topic(kafka, name)
    await sink.warm_up(name)
    return SideTopic(kafka, sink, name)
