"""Workarounds that only the embedded profile (Tansu) needs; see design.md section 3."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest

__all__ = ["leave_at_generation_zero"]

log = logging.getLogger(__name__)


def leave_at_generation_zero(consumer: AIOKafkaConsumer) -> None:
    """Make ``stop()`` leave the group on Tansu too.

    Tansu numbers a group's first generation 0 (Kafka starts at 1), and aiokafka 0.14
    sends LeaveGroup on stop only when its generation is > 0. The member would then
    linger until its session expires, and the next run's join would wait for it (about
    twice ``session_timeout_ms``). In that one case we send the LeaveGroup ourselves.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    original = getattr(coordinator, "_maybe_leave_group", None)
    if coordinator is None or original is None:
        return

    async def leave() -> None:
        member = coordinator.member_id
        if coordinator.generation == 0 and member != JoinGroupRequest.UNKNOWN_MEMBER_ID:
            try:
                await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, member))
            except KafkaError as exc:
                log.debug("LeaveGroup at generation 0 failed: %s", exc)
        await original()

    coordinator._maybe_leave_group = leave
