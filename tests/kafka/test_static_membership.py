"""Static group membership (KIP-345, ``kafka.group_instance_id``) on a real broker.

What holds on the embedded broker and on Kafka alike: a static member that stops stays
in the group (no LeaveGroup, ours or aiokafka's), and a restart with the same instance id
takes its place and its partitions instead of joining beside it. (Whether the others see
a rebalance meanwhile differs: Kafka gives the restarted member its old assignment
without one; Tansu 0.6 rebalances, see the README's cold start section.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.protocol.admin import DescribeGroupsRequest
from click.testing import CliRunner

from stream.cli.main import cli
from stream.config import KafkaSettings
from stream.kafka import static_membership
from stream.kafka.admin import ensure_topics
from stream.kafka.client_config import common_kwargs
from stream.kafka.source import KafkaSource
from stream.kafka.static_membership import (
    STATIC_JOIN_VERSION,
    StaticMembershipUnsupported,
    check_static_join,
    join_group_max_version,
)
from stream.ports import TP, RebalanceHandler
from tests.fixtures.broker import SettingsFactory

_PARTITIONS = 4


async def _members(kafka: KafkaSettings, group: str) -> list[str]:
    client = AIOKafkaClient(**common_kwargs(kafka))
    try:
        await client.bootstrap()
        node = await client.coordinator_lookup(0, group)
        answer = await client.send(node, DescribeGroupsRequest([group]))
        return sorted(m[0] for g in answer.groups if g[1] == group for m in g[5])
    finally:
        await client.close()


def _partitions(member: KafkaSource) -> set[int]:
    return {partition for _, partition in member.assignment()}


async def _until_split(members: Sequence[KafkaSource]) -> None:
    """Poll every member until each holds partitions and together they hold them all."""
    async with asyncio.timeout(60):
        while True:
            await asyncio.gather(*(m.poll(max_records=10, timeout_s=0.1) for m in members))
            held = [_partitions(m) for m in members]
            if all(held) and sum(map(len, held)) == len(set().union(*held)) == _PARTITIONS:
                return


async def _ignore(tps: list[TP]) -> None:
    del tps


async def _start(kafka: KafkaSettings, instance: str) -> KafkaSource:
    """The worker's own consumer, as ``kafka.group_instance_id`` configures it."""
    member = KafkaSource(
        kafka.model_copy(update={"group_instance_id": instance}), kafka.topics.input
    )
    await member.start(RebalanceHandler(_ignore, _ignore))
    return member


@pytest.mark.kafka
async def test_a_stopped_static_member_stays_and_its_restart_takes_back_its_partitions(
    settings_factory: SettingsFactory,
) -> None:
    """A static member commits like any other; its stop sends no LeaveGroup (the member
    is still listed), and the restarted member with the same id replaces it: the group
    keeps two members and the restarted one holds exactly what its predecessor held."""
    kafka = settings_factory({"kafka.topics.partitions": _PARTITIONS}).kafka
    group = kafka.group_id
    await ensure_topics(kafka)
    first, other = await _start(kafka, "worker-a"), await _start(kafka, "worker-b")
    restarted = None
    try:
        await _until_split([first, other])
        held = _partitions(first)
        assert await first.commit({tp: 0 for tp in first.assignment()})  # a member like any
        await first.stop()
        assert len(await _members(kafka, group)) == 2  # no leave: it still holds its place
        restarted = await _start(kafka, "worker-a")
        await _until_split([restarted, other])
        assert _partitions(restarted) == held
        assert len(await _members(kafka, group)) == 2  # replaced, not joined beside it
    finally:
        for member in (restarted, other):
            if member is not None:
                await member.stop()


@pytest.mark.kafka
async def test_the_broker_offers_the_join_version_that_carries_an_instance_id(
    settings_factory: SettingsFactory,
) -> None:
    """The start-up check reads the coordinator's JoinGroup versions: both brokers the
    tests use (Tansu 0.6, Kafka 2.3+) carry ``group.instance.id``."""
    kafka = settings_factory().kafka
    version = await join_group_max_version(kafka, f"g-{uuid.uuid4().hex[:8]}")
    assert version is not None and version >= STATIC_JOIN_VERSION
    check_static_join(kafka.bootstrap_servers, "worker-a", version)


@pytest.mark.parametrize("offered", [None, 0, STATIC_JOIN_VERSION - 1])
def test_a_broker_without_static_joins_is_one_config_error(offered: int | None) -> None:
    """Below JoinGroup v5 aiokafka would drop the id without a word; we say so instead."""
    with pytest.raises(StaticMembershipUnsupported, match=r"kafka\.group_instance_id='w-1'") as e:
        check_static_join("broker:9092", "w-1", offered)
    assert "\n" not in str(e.value) and "Kafka 2.3+" in str(e.value)


@pytest.mark.kafka
def test_run_on_a_broker_without_static_joins_stops_with_one_line_and_exit_2(
    settings_factory: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`docstream run --instance-id` where the coordinator offers JoinGroup v4 (as Kafka
    2.2 would; faked at our version probe): one config-error line, exit 2, no join."""
    kafka = settings_factory().kafka
    asyncio.run(ensure_topics(kafka))

    async def kafka_2_2(kafka: KafkaSettings, group_id: str) -> int:
        del kafka, group_id
        return STATIC_JOIN_VERSION - 1

    monkeypatch.setattr(static_membership, "join_group_max_version", kafka_2_2)
    args = ["run", "--bootstrap", kafka.bootstrap_servers, "--group", kafka.group_id]
    args += ["--topic", kafka.topics.input, "--instance-id", "worker-0"]
    env = {
        "DOCSTREAM_KAFKA__PROFILE": kafka.profile,
        "DOCSTREAM_KAFKA__TOPICS__RESULTS": kafka.topics.results,
        "DOCSTREAM_KAFKA__TOPICS__DLQ": kafka.topics.dlq,
        "DOCSTREAM_CLAUDE__BASE_URL": "http://127.0.0.1:9",
        "DOCSTREAM_CLAUDE__API_KEY": "unused",
    }
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "kafka.group_instance_id='worker-0'" in lines[0] and "JoinGroup up to v4" in lines[0]
