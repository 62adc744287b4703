"""Leave a Tansu consumer group by hand after ``stop()``, with aiokafka's public client.

Tansu numbers a group's first generation 0 (Kafka starts at 1), and aiokafka 0.14 sends
LeaveGroup on stop only when its generation is > 0. The member would then linger until
its session expires, and the next run's join would wait for it (about twice
``session_timeout_ms``). After ``stop()`` we therefore look the group up with
DescribeGroups and send LeaveGroup for any member that still carries our client id
(Tansu reports an empty client id, so the member id's ``<client id>-`` prefix counts).

Only the public ``AIOKafkaClient`` and its request classes are used (no consumer
internals), so an aiokafka upgrade cannot silently break it; on a real cluster the
member has already left and this finds nothing to do. The embedded profile gives every
consumer a client id of its own (``member_client_id``) so one worker never removes
another's member. A static member (``kafka.group_instance_id``) is never removed: staying
is the point of it (Tansu names it ``<instance id>-<uuid>``, so the prefix would not match
it anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import LeaveGroupRequest

from stream.config import KafkaSettings
from stream.kafka.client_config import common_kwargs, consumer_kwargs
from stream.kafka.fencing import MembershipCheck, coordinator, our_members

__all__ = ["GroupMember", "leave_lingering_members", "member_client_id"]

log = logging.getLogger(__name__)
# Within the processor's deadline for leaving the group (commits.BROKER_DEADLINE_S, 5 s).
STOP_BUDGET_S = 3.0
LEAVE_BUDGET_S = 1.5


def member_client_id(client_id: str) -> str:
    """A client id no other member of the group carries."""
    return f"{client_id}-{uuid.uuid4().hex[:8]}"


async def leave_lingering_members(common: dict[str, Any], group_id: str) -> int:
    """LeaveGroup for members of ``group_id`` with our client id; returns how many left.

    ``common`` is ``client_config.common_kwargs`` of the stopped consumer (the same
    bootstrap, security and client id). Failures are logged at DEBUG: the fallback is the
    member's session expiring, exactly as without this step.
    """
    client = AIOKafkaClient(**common)
    try:
        await client.bootstrap()
        node = await coordinator(client, group_id)
        members = await our_members(client, node, group_id, common["client_id"])
        for member_id in members:
            await client.send(node, LeaveGroupRequest(group_id, member_id))
        return len(members)
    except (KafkaError, OSError) as exc:
        log.debug("LeaveGroup after stop failed: %s", exc)
        return 0
    finally:
        await client.close()


class GroupMember:
    """A group consumer whose ``stop()`` really leaves the group, on Tansu too; or, with
    ``instance_id`` (static membership, KIP-345), one that deliberately stays.

    A static member that left would hand its partitions to the others at once, which is
    what static membership exists to avoid: aiokafka skips its LeaveGroup then, and so do
    we. The broker keeps the member (and its partitions) until its session times out or
    the same instance id joins again.
    """

    def __init__(self, kafka: KafkaSettings, group_id: str, instance_id: str | None = None) -> None:
        self._leave_by_hand = kafka.profile == "embedded" and instance_id is None
        self._group_id = group_id
        self._common = common_kwargs(kafka)
        kwargs = consumer_kwargs(kafka)
        if kafka.profile == "embedded":
            self._common["client_id"] = kwargs["client_id"] = member_client_id(kafka.client_id)
        self.consumer = AIOKafkaConsumer(group_id=group_id, group_instance_id=instance_id, **kwargs)
        # Static members' ids carry their instance id, not the client id: not checked.
        self._membership = MembershipCheck(self._common, group_id) if self._leave_by_hand else None

    async def expelled(self) -> bool:
        """True when the group has dropped this member (its commits must not be sent)."""
        return self._membership is not None and await self._membership.expelled()

    async def stop(self) -> None:
        if self._membership is not None:
            await self._membership.close()
        if not self._leave_by_hand:
            await self.consumer.stop()
            return
        # A stop during a join that Tansu never completes (a group looping at one
        # generation; README, the embedded broker's limits) can hold ``consumer.stop()``
        # for good, cancel or not; the member would then linger, holding its partitions
        # in every later round until its session expires.
        # So the stop gets a budget, and the member leaves by hand either way.
        stopping = asyncio.ensure_future(self.consumer.stop())
        await asyncio.wait([stopping], timeout=STOP_BUDGET_S)
        if not stopping.done():
            log.warning("consumer stop held by a group join; leaving the group by hand")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LEAVE_BUDGET_S):
                await leave_lingering_members(self._common, self._group_id)
        if not stopping.done():
            stopping.cancel()  # not awaited: it ignored its budget, and the process is ending
