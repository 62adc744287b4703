"""A result the broker failed to take, in a Faust app: resent while the failure is the
broker's (never dead-lettered), unacked while unsent, and Faust's producer errors judged
by the same rule as the worker's."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from faust.exceptions import ProducerSendError

from stream.config import Settings
from stream.faust import FaustSink
from stream.faust.sink import broker_send_failed
from stream.kafka.admin import ensure_topics
from stream.kafka.group import committed_offsets
from stream.models import Result
from stream.ports import ResultSink, SendFailed
from stream.simulator import SimulatorServer
from tests.faust.helpers import faust_app, publish
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


def _doc(doc_id: str) -> bytes:
    return json.dumps({"id": doc_id, "text": "hello"}).encode()


class LeaderMovingSink:
    """The app's producer, except that the first ``failures`` sends to ``topic`` (every
    one, with None) fail retriably, as while a partition's leader moves: half raised by
    ``send``, half on the acknowledgement."""

    def __init__(self, inner: ResultSink, topic: str, failures: int | None) -> None:
        self._inner = inner
        self._topic = topic
        self._failures = failures
        self.failed = 0

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        if topic == self._topic and (self._failures is None or self.failed < self._failures):
            self.failed += 1
            error = SendFailed("NotLeaderForPartitionError: [Error 6]", retriable=True)
            if self.failed % 2:
                raise error
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(error)
            return future
        return await self._inner.send(topic, value, key=key, headers=headers, partition=partition)


async def _result_ids(settings: Settings) -> Counter[str]:
    records = await read_all(settings, settings.kafka.topics.results)
    return Counter(json.loads(r.value or b"")["document_id"] for r in records)


async def test_a_result_failed_retriably_is_sent_again_and_never_dead_lettered(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    settings = settings_factory(
        {"claude.base_url": simulator.base_url, "kafka.topics.partitions": 1}
    )
    topics = settings.kafka.topics
    await publish(settings, [_doc(d) for d in ("a", "b", "c")])
    sinks: list[LeaderMovingSink] = []

    def flaky(app: Any) -> ResultSink:
        sinks.append(LeaderMovingSink(FaustSink(app), topics.results, failures=4))
        return sinks[-1]

    async with faust_app(settings, sink=flaky) as running:
        await running.wait_for(3)

    assert running.errors == []
    assert await read_all(settings, topics.dlq) == []
    assert all(isinstance(o, Result) for o in running.outcomes)
    assert await _result_ids(settings) == Counter({"a": 1, "b": 1, "c": 1})
    assert sinks[0].failed == 4
    assert await committed_offsets(settings.kafka, settings.kafka.group_id, topics.input) == {0: 3}


async def test_a_stop_while_sends_keep_failing_leaves_the_event_unacked_for_a_restart(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """The stop ends the resend loop: no dead letter, nothing committed past the event,
    and the next app writes its result once."""
    settings = settings_factory(
        {"claude.base_url": simulator.base_url, "kafka.topics.partitions": 1}
    )
    topics = settings.kafka.topics
    await publish(settings, [_doc("stuck")])
    sinks: list[LeaderMovingSink] = []

    def failing(app: Any) -> ResultSink:
        sinks.append(LeaderMovingSink(FaustSink(app), topics.results, failures=None))
        return sinks[-1]

    # Without stream_wait_empty Faust's stop does not wait for the unacked event.
    async with faust_app(settings, sink=failing, app_conf={"stream_wait_empty": False}) as first:
        async with asyncio.timeout(60):
            while sinks[0].failed < 3:  # noqa: ASYNC110 - the stage's sends
                await asyncio.sleep(0.05)

    assert first.errors == [] and first.outcomes == []
    assert await read_all(settings, topics.results) == []
    assert await read_all(settings, topics.dlq) == []
    committed = await committed_offsets(settings.kafka, settings.kafka.group_id, topics.input)
    assert committed.get(0, 0) == 0

    async with faust_app(settings) as second:
        await second.wait_for(1)

    assert second.errors == []
    assert await _result_ids(settings) == Counter({"stuck": 1})
    assert await read_all(settings, topics.dlq) == []


async def test_the_faust_producer_takes_a_record_and_refuses_an_oversized_one_for_good(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """Through the real producer: an acknowledged record resolves to its offset; one over
    Faust's producer_max_request_size is SendFailed, not retriable, aiokafka's error as
    its cause (what the DLQ's output_rejected record names)."""
    settings = settings_factory({"claude.base_url": simulator.base_url})
    topics = settings.kafka.topics
    await ensure_topics(settings.kafka)
    async with faust_app(settings, app_conf={"producer_max_request_size": 10_000}) as running:
        sink = FaustSink(running.app)
        delivered = await (await sink.send(topics.results, b"{}", key=b"k"))
        with pytest.raises(SendFailed) as refused:
            await sink.send(topics.results, b"x" * 20_000, key=b"k")

    assert (delivered.topic, delivered.offset) == (topics.results, 0)
    assert not refused.value.retriable
    assert isinstance(refused.value.__cause__, MessageSizeTooLargeError)


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (NotLeaderForPartitionError(), True),
        (KafkaTimeoutError(), True),  # a batch expired waiting for the broker: not the record
        (MessageSizeTooLargeError(), False),
    ],
    ids=["leader-moved", "broker-timeout", "too-large"],
)
def test_faust_producer_errors_map_as_the_kafka_sinks_do(error: Exception, retriable: bool) -> None:
    """Raised while queueing (Faust wraps it) or on the acknowledgement (aiokafka's own)."""
    wrapped = ProducerSendError(f"Error while sending: {error!r}")
    wrapped.__cause__ = error
    for raised in (wrapped, error):
        failed = broker_send_failed(raised)
        assert failed is not None
        assert failed.retriable is retriable
        assert failed.__cause__ is error


def test_an_error_that_is_not_the_brokers_is_left_to_propagate() -> None:
    assert broker_send_failed(ValueError("a bug")) is None
    assert broker_send_failed(ProducerSendError("No transaction producer found")) is None
