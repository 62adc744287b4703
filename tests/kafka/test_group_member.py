"""A group consumer's stop() leaves the group, on the embedded broker too (public API)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.protocol.admin import DescribeGroupsRequest

from stream.config import KafkaSettings
from stream.kafka.admin import ensure_topics
from stream.kafka.client_config import common_kwargs
from stream.kafka.tansu import LEAVE_BUDGET_S, STOP_BUDGET_S, GroupMember
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka


async def _members(common: dict[str, object], group: str) -> list[str]:
    client = AIOKafkaClient(**common)
    try:
        await client.bootstrap()
        node = await client.coordinator_lookup(0, group)
        answer = await client.send(node, DescribeGroupsRequest([group]))
        return [m[0] for g in answer.groups if g[1] == group for m in g[5]]
    finally:
        await client.close()


async def _assigned_member(make: SettingsFactory) -> tuple[KafkaSettings, str, GroupMember]:
    """A GroupMember of a new group that holds its assignment."""
    topic, group = f"member-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka = make({"kafka.topics.input": topic}).kafka
    await ensure_topics(kafka)
    member = GroupMember(kafka, group)
    await member.consumer.start()
    member.consumer.subscribe([topic])
    async with asyncio.timeout(30):
        while not member.consumer.assignment():
            await member.consumer.getmany(timeout_ms=100)
    return kafka, group, member


async def test_stopped_member_is_gone_from_the_group_at_once(
    settings_factory: SettingsFactory,
) -> None:
    """After stop() nobody lingers: the next run's join does not wait for a session expiry.

    Tansu numbers the first generation 0 and aiokafka skips LeaveGroup there; without the
    explicit leave the member stays listed until its session times out.
    """
    kafka, group, member = await _assigned_member(settings_factory)
    assert len(await _members(common_kwargs(kafka), group)) == 1
    await member.stop()
    assert await _members(common_kwargs(kafka), group) == []


async def test_a_stop_held_by_a_join_still_ends_and_leaves_the_group(
    settings_factory: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chaos rebalance storm: a worker stopped during a join Tansu never completed
    waited in ``consumer.stop()`` until its deadline, never left, and held its partitions
    in the next rounds. Here the consumer's stop never returns (as it did there)."""
    kafka, group, member = await _assigned_member(settings_factory)
    real_stop = member.consumer.stop

    async def held() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(member.consumer, "stop", held)
    async with asyncio.timeout(STOP_BUDGET_S + LEAVE_BUDGET_S + 5):
        await member.stop()
    assert await _members(common_kwargs(kafka), group) == []
    await real_stop()
