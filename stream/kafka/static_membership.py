"""Static group membership (KIP-345, ``kafka.group_instance_id``): can the cluster do it?

aiokafka negotiates each request's version with the broker, and only JoinGroup v5 and
later carry ``group.instance.id`` (Kafka 2.3+). Against an older broker the id would be
dropped without a word, while aiokafka (and ``GroupMember``) still skip the LeaveGroup
on stop, as a static member must: every restart would then cost a full session timeout
of missing partitions. So a worker with an instance id asks the group coordinator which
JoinGroup versions it speaks before joining, and stops with one line if it cannot.
"""

from __future__ import annotations

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import ApiVersionRequest

from stream.config import ConfigError, KafkaSettings
from stream.kafka.client_config import common_kwargs

__all__ = [
    "STATIC_JOIN_VERSION",
    "StaticMembershipUnsupported",
    "check_static_join",
    "join_group_max_version",
    "require_static_membership",
]

_JOIN_GROUP = 11  # the JoinGroup API key
_GROUP_COORDINATOR = 0
STATIC_JOIN_VERSION = 5  # the first JoinGroup version with group_instance_id (Kafka 2.3)


class StaticMembershipUnsupported(ConfigError):
    """``kafka.group_instance_id`` is set but the cluster's JoinGroup cannot carry it."""


async def join_group_max_version(kafka: KafkaSettings, group_id: str) -> int | None:
    """The newest JoinGroup version ``group_id``'s coordinator speaks (None: not listed).

    Connection failures propagate as aiokafka's errors; the caller's own start then
    reports an unreachable broker the usual way."""
    client = AIOKafkaClient(**common_kwargs(kafka))
    try:
        await client.bootstrap()
        node = await client.coordinator_lookup(_GROUP_COORDINATOR, group_id)
        answer = await client.send(node, ApiVersionRequest())
        versions = {key: high for key, _low, high in answer.api_versions}
        return versions.get(_JOIN_GROUP)
    finally:
        await client.close()


def check_static_join(bootstrap: str, instance_id: str, max_version: int | None) -> None:
    """Raise StaticMembershipUnsupported unless ``max_version`` carries instance ids."""
    if max_version is not None and max_version >= STATIC_JOIN_VERSION:
        return
    offered = "no JoinGroup" if max_version is None else f"JoinGroup up to v{max_version}"
    raise StaticMembershipUnsupported(
        f"kafka.group_instance_id={instance_id!r}: the broker at {bootstrap} offers "
        f"{offered}; static membership needs JoinGroup v{STATIC_JOIN_VERSION} (Kafka 2.3+). "
        "Unset kafka.group_instance_id (--instance-id) for this cluster"
    )


async def require_static_membership(kafka: KafkaSettings, group_id: str) -> None:
    """Nothing if ``kafka.group_instance_id`` is unset or the coordinator can carry it."""
    if kafka.group_instance_id is None:
        return
    try:
        version = await join_group_max_version(kafka, group_id)
    except (KafkaError, OSError):
        return  # unreachable: the consumer's own start says so, in its usual one line
    check_static_join(kafka.bootstrap_servers, kafka.group_instance_id, version)
