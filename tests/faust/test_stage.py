"""LLMStage in a Faust app on the embedded broker: typed outcomes, DLQ context, pacing,
trace continuity, and the agent-concurrency guard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from faust.exceptions import ImproperlyConfigured

from stream.kafka.group import committed_offsets
from stream.library import read_results
from stream.models import HEADER_PREFIX, DeadLetter, Result
from stream.simulator import SimulatorServer
from stream.telemetry.setup import InMemoryTelemetry
from tests.faust.helpers import faust_app, publish
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import header, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def _doc(doc_id: str, text: str = "hello") -> bytes:
    return json.dumps({"id": doc_id, "text": text}).encode()


async def test_results_and_a_dead_letter_reach_the_agent_and_their_topics(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """Good documents become Result records on the results topic; bytes that are not a
    document become a DeadLetter with the worker's context headers (group = app id)."""
    settings = settings_factory({"claude.base_url": simulator.base_url})
    await publish(settings, [_doc("a"), _doc("b"), b"not json", _doc("c")])

    async with faust_app(settings) as running:
        await running.wait_for(4)

    assert running.errors == []
    results = [o for o in running.outcomes if isinstance(o, Result)]
    dead = [o for o in running.outcomes if isinstance(o, DeadLetter)]
    assert sorted(r.document_id for r in results) == ["a", "b", "c"]
    assert [(d.outcome, d.error_class, d.consumer_group) for d in dead] == [
        ("bad_input", "invalid_json", settings.kafka.group_id)
    ]
    on_topic = await read_all(settings, settings.kafka.topics.results)
    assert sorted(json.loads(r.value or b"")["document_id"] for r in on_topic) == ["a", "b", "c"]
    (dlq,) = await read_all(settings, settings.kafka.topics.dlq)
    assert dlq.value == b"not json"
    assert header(dlq, HEADER_PREFIX + "original.topic") == settings.kafka.topics.input
    typed = [result async for result in read_results(settings)]
    assert sorted(r.document_id for r in typed) == ["a", "b", "c"]


async def test_an_auth_failure_holds_its_event_never_dead_letters_nor_commits_past_it(
    settings_factory: SettingsFactory, simulator: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """401 is not the document's fault and shuts the fatal gate for good: the events are
    held (no DLQ record, no ack), so Faust commits up to them and never past; one log
    line says so."""
    settings = settings_factory(
        {"claude.base_url": simulator.base_url, "kafka.topics.partitions": 1}
    )
    topics = settings.kafka.topics
    await publish(settings, [_doc("ok-1"), _doc("ok-2")])
    # A held event blocks Faust's graceful stop (stream_wait_empty); the test stops anyway.
    async with faust_app(settings, app_conf={"stream_wait_empty": False}) as running:
        await running.wait_for(2)
        await publish(settings, [_doc("held", "[[sim:auth]]"), _doc("held-too", "[[sim:auth]]")])
        await _until_status(simulator, "401")
        await running.app.commit({topics.input})
        committed = await committed_offsets(settings.kafka, settings.kafka.group_id, topics.input)

    assert running.errors == []
    assert [o.document_id for o in running.outcomes if isinstance(o, Result)] == ["ok-1", "ok-2"]
    assert len(running.outcomes) == 2
    assert committed == {0: 2}  # the held event is offset 2
    assert await read_all(settings, topics.dlq) == []
    gate = [r for r in caplog.records if r.name == "stream.library" and r.levelname == "ERROR"]
    assert len(gate) == 1
    assert "authentication_error" in gate[0].getMessage()
    assert "every call held for good" in gate[0].getMessage()


async def _until_status(simulator: SimulatorServer, status: str) -> None:
    async with asyncio.timeout(30):
        while status not in simulator.stats()["status_counts"]:  # noqa: ASYNC110 - polling
            await asyncio.sleep(0.05)


async def test_a_burst_over_the_rate_limit_is_paced_and_nothing_is_dead_lettered(
    settings_factory: SettingsFactory,
    simulator_factory: Callable[..., Awaitable[SimulatorServer]],
) -> None:
    """130 documents at once against 120 requests per minute: the pacer reads the rate-limit
    headers and holds calls, so only a few 429s happen and every document is a result."""
    simulator = await simulator_factory(rpm=120)
    settings = settings_factory({"claude.base_url": simulator.base_url})
    await publish(settings, [_doc(f"d{i}") for i in range(130)])

    async with faust_app(settings) as running:
        await running.wait_for(130, timeout_s=120)

    assert running.errors == []
    assert all(isinstance(o, Result) for o in running.outcomes)
    statuses = simulator.stats()["status_counts"]
    assert statuses.get("200") == 130
    assert statuses.get("429", 0) <= 1  # blind to the headers, this run had 6


async def test_the_events_trace_continues_into_process_chat_and_result_spans(
    settings_factory: SettingsFactory, simulator: SimulatorServer, otel: InMemoryTelemetry
) -> None:
    """A traceparent on the Faust event is the parent of the stage's process span; the chat
    and result send spans share its trace, and the Result and its record carry it."""
    settings = settings_factory({"claude.base_url": simulator.base_url})
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01".encode()
    await publish(settings, [_doc("t1")], headers=lambda _: [("traceparent", parent)])

    async with faust_app(settings) as running:
        await running.wait_for(1)

    assert running.errors == []
    (result,) = running.outcomes
    assert isinstance(result, Result)
    assert result.trace_id == trace_id
    in_trace = [s.name for s in otel.spans() if f"{s.context.trace_id:032x}" == trace_id]
    topics = settings.kafka.topics
    assert f"process {topics.input}" in in_trace
    assert f"send {topics.results}" in in_trace
    assert any(name.startswith("chat ") for name in in_trace)
    (record,) = await read_all(settings, topics.results)
    assert trace_id in (header(record, "traceparent") or "")


async def test_an_agent_with_concurrency_above_one_is_refused_with_a_clear_error(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """Concurrency belongs to docstream's limiter: agent(concurrency=2) would ack out of
    order across actors, so the stage refuses it instead of risking a lost commit."""
    settings = settings_factory({"claude.base_url": simulator.base_url})
    await publish(settings, [_doc("x")])
    async with faust_app(settings, concurrency=2) as running:
        await running.wait_for(1)
    assert running.outcomes == []
    assert running.errors
    assert all(isinstance(e, ImproperlyConfigured) for e in running.errors)
    assert "use concurrency=1 with LLMStage" in str(running.errors[0])
