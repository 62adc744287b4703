"""Admin, producer sink and topic reader against the session's real broker."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from click.testing import CliRunner

from stream.cli.main import cli
from stream.config import KafkaSettings, load_settings
from stream.kafka.admin import ensure_topics, topic_partitions
from stream.kafka.client_config import consumer_kwargs, producer_kwargs
from stream.kafka.connect import KafkaUnreachable
from stream.kafka.producer import KafkaSink, OutRecord, as_send_failed
from stream.kafka.reader import read_topic
from stream.ports import RawRecord, SendFailed
from tests.fixtures.broker import SettingsFactory
from tests.fixtures.env import kafka_env

pytestmark = pytest.mark.kafka


async def _read(kafka: KafkaSettings, topic: str) -> list[RawRecord]:
    return [r async for r in read_topic(kafka, topic)]


def _kafka(**overrides: object) -> KafkaSettings:
    return load_settings(None, {f"kafka.{k}": v for k, v in overrides.items()}).kafka


# -- client configuration ---------------------------------------------------------------


def test_producer_kwargs_embedded_profile_switches_idempotence_off() -> None:
    """Only the embedded profile turns idempotence off; acks=all stays in both."""
    embedded = producer_kwargs(_kafka(profile="embedded"))
    production = producer_kwargs(_kafka(profile="kafka"))
    assert (embedded["enable_idempotence"], production["enable_idempotence"]) == (False, True)
    assert embedded["acks"] == production["acks"] == "all"


def test_consumer_kwargs_default_manual_commit_earliest_no_deserializers() -> None:
    """Commits are ours, resets go to earliest, bytes stay bytes."""
    kwargs = consumer_kwargs(_kafka(session_timeout_ms=2000, heartbeat_interval_ms=500))
    assert kwargs["enable_auto_commit"] is False
    assert kwargs["auto_offset_reset"] == "earliest"
    assert (kwargs["session_timeout_ms"], kwargs["heartbeat_interval_ms"]) == (2000, 500)
    assert "value_deserializer" not in kwargs and "key_deserializer" not in kwargs


def test_common_kwargs_sasl_ssl_carries_credentials_and_context() -> None:
    """SASL_SSL settings reach the client: mechanism, user, password and an SSL context."""
    kwargs = producer_kwargs(
        _kafka(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="u",
            sasl_password="p",
        )
    )
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("u", "p")
    assert kwargs["ssl_context"] is not None


# -- admin ---------------------------------------------------------------------------


async def test_ensure_topics_fresh_names_creates_three_with_partitions(
    settings_factory: SettingsFactory,
) -> None:
    """All three topics are created with topics.partitions; a second run creates none."""
    kafka = settings_factory({"kafka.topics.partitions": 3}).kafka
    names = [kafka.topics.input, kafka.topics.results, kafka.topics.dlq]
    assert sorted(await ensure_topics(kafka)) == sorted(names)
    assert await topic_partitions(kafka, names) == dict.fromkeys(names, 3)
    assert await ensure_topics(kafka) == []


async def test_ensure_topics_unreachable_cluster_raises_clear_error() -> None:
    """Nothing listening at the bootstrap address gives one clear KafkaUnreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(KafkaUnreachable, match=f"cannot reach Kafka at 127.0.0.1:{port}"):
        await ensure_topics(_kafka(bootstrap_servers=f"127.0.0.1:{port}"))


# -- producer --------------------------------------------------------------------------


async def test_sink_send_resolves_delivered_matching_what_reader_sees(
    settings_factory: SettingsFactory,
) -> None:
    """Each future resolves to the record's real coordinates; key, value, headers round-trip."""
    kafka = settings_factory().kafka
    topic = kafka.topics.results
    await ensure_topics(kafka)
    headers = [("docstream.a", b"1"), ("empty", b"")]
    async with KafkaSink(kafka) as sink:
        futures = [
            await sink.send(topic, f"v{i}".encode(), key=f"k{i % 5}".encode(), headers=headers)
            for i in range(50)
        ]
        delivered = await asyncio.gather(*futures)
    records = {(r.partition, r.offset): r for r in await _read(kafka, topic)}
    assert len(records) == 50
    for i, d in enumerate(delivered):
        record = records[(d.partition, d.offset)]
        assert (d.topic, record.value, record.key) == (
            topic,
            f"v{i}".encode(),
            f"k{i % 5}".encode(),
        )
        assert record.headers == tuple(headers)
    partitions_per_key = {r.key: set() for r in records.values()}
    for r in records.values():
        partitions_per_key[r.key].add(r.partition)
    assert all(len(p) == 1 for p in partitions_per_key.values())


async def test_sink_send_and_wait_explicit_partition_lands_there(
    settings_factory: SettingsFactory,
) -> None:
    """send_and_wait with partition=2 returns (topic, 2, offset) after the ack."""
    kafka = settings_factory().kafka
    await ensure_topics(kafka)
    async with KafkaSink(kafka) as sink:
        first = await sink.send_and_wait(kafka.topics.dlq, b"a", partition=2)
        second = await sink.send_and_wait(kafka.topics.dlq, b"b", partition=2)
    assert (first.partition, second.partition) == (2, 2)
    assert second.offset == first.offset + 1


async def test_sink_send_many_delivers_every_record_in_counted_batches(
    settings_factory: SettingsFactory,
) -> None:
    """Batched sends arrive complete; batch counts add up to what was sent."""
    kafka = settings_factory().kafka
    topic = kafka.topics.input
    await ensure_topics(kafka)
    records = [
        OutRecord(f"value-{i}".encode() * 20, key=f"id-{i}".encode(), headers=[("n", b"%d" % i)])
        for i in range(3000)
    ]
    async with KafkaSink(kafka) as sink:
        batches = await asyncio.gather(*await sink.send_many(topic, records))
    got = await _read(kafka, topic)
    assert sum(b.count for b in batches) == 3000
    assert len(batches) > kafka.topics.partitions  # really split into several batches
    assert Counter(r.value for r in got) == Counter(r.value for r in records)
    for batch in batches:
        offsets = {r.offset for r in got if r.partition == batch.partition}
        assert set(range(batch.base_offset, batch.base_offset + batch.count)) <= offsets


async def test_sink_send_many_keys_go_where_send_puts_them(
    settings_factory: SettingsFactory,
) -> None:
    """send_many partitions keys exactly like send (Kafka's murmur2), so key order holds."""
    kafka = settings_factory().kafka
    await ensure_topics(kafka)
    keys = [f"doc-{i}".encode() for i in range(40)]
    async with KafkaSink(kafka) as sink:
        singles = [await sink.send_and_wait(kafka.topics.input, b"x", key=k) for k in keys]
        await asyncio.gather(
            *await sink.send_many(kafka.topics.results, [OutRecord(b"y", key=k) for k in keys])
        )
    batched = {r.key: r.partition for r in await _read(kafka, kafka.topics.results)}
    assert {k: d.partition for k, d in zip(keys, singles, strict=True)} == batched


async def test_sink_send_many_oversized_record_raises_before_queueing_it(
    settings_factory: SettingsFactory,
) -> None:
    """A record over max_request_size is refused with a message naming the limit."""
    kafka = settings_factory({"kafka.max_request_size": 2048}).kafka
    await ensure_topics(kafka)
    async with KafkaSink(kafka) as sink:
        with pytest.raises(Exception, match="max_request_size"):
            await sink.send_many(kafka.topics.input, [OutRecord(b"x" * 4096)])


async def test_sink_send_oversized_record_fails_as_a_non_retriable_send_failed(
    settings_factory: SettingsFactory,
) -> None:
    """The broker-neutral error the processor dead-letters on: this record, not the broker."""
    kafka = settings_factory({"kafka.max_request_size": 2048}).kafka
    await ensure_topics(kafka)
    async with KafkaSink(kafka) as sink:
        with pytest.raises(SendFailed) as failed:
            await sink.send_and_wait(kafka.topics.results, b"x" * 4096)
    assert failed.value.retriable is False
    assert isinstance(failed.value.__cause__, MessageSizeTooLargeError)


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (NotLeaderForPartitionError(), True),  # a first send to a new topic, on Tansu
        (KafkaTimeoutError(), True),  # a batch expired: the broker's trouble, not the record's
        (MessageSizeTooLargeError(), False),
    ],
)
def test_kafka_send_errors_cross_the_port_as_send_failed_with_their_retriability(
    error: Exception, retriable: bool
) -> None:
    failed = as_send_failed(error)
    assert isinstance(failed, SendFailed)
    assert (failed.retriable, failed.__cause__) == (retriable, error)


def test_a_non_kafka_error_is_not_disguised_as_a_send_failure() -> None:
    error = TypeError("value must be bytes")
    assert as_send_failed(error) is error


# -- reader -------------------------------------------------------------------------------


async def test_read_topic_snapshot_returns_everything_in_partition_order(
    settings_factory: SettingsFactory,
) -> None:
    """Without follow the read ends at the highwater marks with every record, in order."""
    kafka = settings_factory().kafka
    topic = kafka.topics.input
    await ensure_topics(kafka)
    async with KafkaSink(kafka) as sink:
        await asyncio.gather(
            *await sink.send_many(topic, [OutRecord(b"%d" % i) for i in range(500)])
        )
    got = await _read(kafka, topic)
    assert sorted(int(r.value or b"") for r in got) == list(range(500))
    for partition in {r.partition for r in got}:
        offsets = [r.offset for r in got if r.partition == partition]
        assert offsets == sorted(offsets) == list(range(offsets[0], offsets[0] + len(offsets)))
    assert all(r.timestamp > 0 for r in got)


async def test_read_topic_empty_or_missing_topic_yields_nothing(
    settings_factory: SettingsFactory,
) -> None:
    """An empty topic ends at once; a topic that does not exist yields nothing."""
    kafka = settings_factory().kafka
    await ensure_topics(kafka)
    assert await _read(kafka, kafka.topics.dlq) == []
    assert await _read(kafka, f"{kafka.topics.dlq}.absent") == []


async def test_read_topic_from_end_follow_sees_only_new_records(
    settings_factory: SettingsFactory,
) -> None:
    """Starting at the highwater (not Tansu's wrong end_offsets) replays no old record."""
    kafka = settings_factory().kafka
    topic = kafka.topics.input
    await ensure_topics(kafka)
    async with KafkaSink(kafka) as sink:
        # Whole batches of old records: a reader starting at end_offsets would replay them.
        await asyncio.gather(
            *await sink.send_many(topic, [OutRecord(b"old-%d" % i) for i in range(200)])
        )
        ready = asyncio.Event()
        reader = read_topic(
            kafka, topic, from_beginning=False, follow=True, idle_timeout_s=2, on_ready=ready.set
        )
        collecting = asyncio.ensure_future(_collect(reader))
        await ready.wait()
        await asyncio.gather(
            *await sink.send_many(topic, [OutRecord(b"new-%d" % i) for i in range(30)])
        )
        got = await collecting
    assert sorted(r.value or b"" for r in got) == sorted(b"new-%d" % i for i in range(30))


async def _collect(reader: AsyncIterator[RawRecord]) -> list[RawRecord]:
    return [r async for r in reader]


def test_cli_topics_create_twice_creates_then_says_exists(
    settings_factory: SettingsFactory,
) -> None:
    """``docstream topics create`` creates the three topics; a rerun says they exist."""
    kafka = settings_factory().kafka
    env = kafka_env(kafka)
    first = CliRunner().invoke(cli, ["topics", "create", "--partitions", "2"], env=env)
    second = CliRunner().invoke(cli, ["topics", "create"], env=env)
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert first.stdout.count("created (2 partitions)") == 3
    assert second.stdout.count("already exists (2 partitions)") == 3
