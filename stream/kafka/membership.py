"""What every group member here shares: rebalance callbacks and explicit commits.

The worker's source (``stream.kafka.source``) and the DLQ replay reader
(``stream.kafka.replay_source``) both relay aiokafka's rebalance callbacks as plain
(topic, partition) lists and commit explicit positions, treating a refused or failed
commit as "not committed" (the records are redelivered) rather than an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from stream.ports import TP, RebalanceHandler

__all__ = ["RebalanceRelay", "commit_positions"]

log = logging.getLogger(__name__)


class RebalanceRelay(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance listener, relayed to a ``RebalanceHandler`` as TP lists."""

    def __init__(self, handler: RebalanceHandler) -> None:
        self._handler = handler

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._handler.on_revoked(sorted((tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._handler.on_assigned(sorted((tp.topic, tp.partition) for tp in assigned))


async def commit_positions(
    consumer: AIOKafkaConsumer, positions: Mapping[TP, int], *, what: str = "commit"
) -> bool:
    """Commit {(topic, partition): next offset}; False, with one warning, when the group
    refused it (a rebalance is in progress) or the broker failed it."""
    offsets = {TopicPartition(*tp): pos for tp, pos in positions.items()}
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning(
            "%s of %d partitions refused (%s); rebalance in progress", what, len(offsets), exc
        )
        return False
    except KafkaError as exc:
        log.warning("%s failed: %s", what, exc)
        return False
    return True
