"""A member the group has expelled commits nothing: on Tansu its commits would land.

When a member misses its session (a SIGSTOP, a long pause), the broker drops it and
aiokafka resets its generation to -1 before calling the revoke callback. Kafka refuses
a generation -1 commit to a group that has members; Tansu accepts it, so the expelled
member's handover commit moved the committed offset *back* under the new owner's
(measured in the chaos suite: a SIGSTOPped worker, once resumed, committed positions 30
and 65 records below the new owner's, and both redid them). ``MembershipCheck`` asks
the coordinator (DescribeGroups, public client) whether a member with our client id is
still in the group before each commit; the embedded profile gives every consumer a
client id of its own, so the answer is about this consumer alone.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DescribeGroupsRequest

__all__ = ["MembershipCheck", "coordinator", "our_members"]

log = logging.getLogger(__name__)
_GROUP_COORDINATOR = 0


async def coordinator(client: AIOKafkaClient, group_id: str) -> int:
    """The node id of ``group_id``'s coordinator."""
    return int(await client.coordinator_lookup(_GROUP_COORDINATOR, group_id))


async def our_members(
    client: AIOKafkaClient, node: int, group_id: str, client_id: str
) -> list[str]:
    """Member ids of ``group_id`` (coordinated by ``node``) that carry ``client_id``."""
    described = await client.send(node, DescribeGroupsRequest([group_id]))
    return [
        member[0]
        for group in described.groups
        if group[1] == group_id
        for member in group[5]
        # Tansu leaves client_id empty; brokers name members "<client id>-<uuid>".
        if member[1] == client_id or member[0].startswith(client_id + "-")
    ]


class MembershipCheck:
    """Is this consumer still a member of its group? One client, kept for its life."""

    def __init__(self, common: dict[str, Any], group_id: str) -> None:
        self._common = common
        self._group_id = group_id
        self._client: AIOKafkaClient | None = None
        self._node: int | None = None  # the group's coordinator (one broker: it stays)

    async def expelled(self) -> bool:
        """True when the group lists no member of ours; False when it does, or when the
        question could not be asked (the commit then fails or lands on its own)."""
        try:
            if self._client is None:
                self._client = AIOKafkaClient(**self._common)
                await self._client.bootstrap()
            if self._node is None:
                self._node = await coordinator(self._client, self._group_id)
            members = await our_members(
                self._client, self._node, self._group_id, self._common["client_id"]
            )
        except (KafkaError, OSError) as exc:
            log.debug("group membership not checked: %s", exc)
            self._node = None  # looked up again next time
            return False
        return not members

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
