"""A member the group dropped commits nothing, on the embedded broker too.

Tansu accepts the generation -1 commit aiokafka sends from the revoke callback of a
member it has expelled; Kafka refuses it. The chaos suite's SIGSTOPped worker moved the
committed offset back under the new owner that way."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.protocol.group import LeaveGroupRequest

from stream.kafka.admin import ensure_topics
from stream.kafka.client_config import common_kwargs
from stream.kafka.fencing import coordinator, our_members
from stream.kafka.group import committed_offsets
from stream.kafka.source import KafkaSource
from stream.ports import TP, RebalanceHandler
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka


async def _expel_everyone(common: dict[str, object], group: str) -> None:
    """What a missed session does to a member: the coordinator forgets it."""
    client = AIOKafkaClient(**common)
    try:
        await client.bootstrap()
        node = await coordinator(client, group)
        for member_id in await our_members(client, node, group, ""):
            await client.send(node, LeaveGroupRequest(group, member_id))
    finally:
        await client.close()


async def test_an_expelled_member_commits_nothing_at_its_revoke(
    settings_factory: SettingsFactory,
) -> None:
    settings = settings_factory({"kafka.topics.partitions": 1})
    kafka, topic = settings.kafka, settings.kafka.topics.input
    await ensure_topics(kafka)
    tp: TP = (topic, 0)
    source = KafkaSource(kafka, topic)
    handed_over: list[bool] = []

    async def assigned(tps: list[TP]) -> None:
        pass

    async def revoked(tps: list[TP]) -> None:
        if tps:  # the handover commit, as the processor makes it, 30 below the last one
            handed_over.append(await source.commit({tp: 10}))

    await source.start(RebalanceHandler(assigned, revoked))
    try:
        async with asyncio.timeout(30):
            while not source.assignment():
                await source.poll(max_records=1, timeout_s=0.1)
        assert await source.commit({tp: 40})
        await _expel_everyone(common_kwargs(kafka), kafka.group_id)
        async with asyncio.timeout(30):
            while not handed_over:
                await source.poll(max_records=1, timeout_s=0.1)
    finally:
        await source.stop()
    assert handed_over == [False]
    assert await committed_offsets(kafka, kafka.group_id, topic) == {0: 40}
