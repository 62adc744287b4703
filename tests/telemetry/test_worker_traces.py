"""One trace per document through the real worker and broker (in-memory exporters)."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from stream.processor import StopPolicy
from stream.publish import publish_documents
from stream.telemetry.setup import InMemoryTelemetry
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import header, publish, read_all

pytestmark = pytest.mark.kafka

SECRET_TEXT = "CONFIDENTIAL-DOC-BODY-7731"


async def test_worker_joins_publish_process_chat_and_result_in_one_trace(
    settings_factory: SettingsFactory, otel: InMemoryTelemetry
) -> None:
    """publish -> process -> chat (per stage, per attempt) -> send result share a trace;
    the Result carries its id; no document text in any span."""
    settings = settings_factory({"kafka.topics.partitions": 1, "limits.backoff_base_s": 0.001})
    topics = settings.kafka.topics
    await publish(settings, [])  # create the topics
    docs = [{"id": "t1", "text": f"{SECRET_TEXT} <<transient*1>>"}]
    await publish_documents(settings.kafka, topics.input, docs)

    await run_worker(
        settings, stop=StopPolicy(until_idle_s=1.0), pipeline="triage", client=ScriptedClaude()
    )

    by_trace: dict[int, list[str]] = defaultdict(list)
    for span in otel.spans():
        by_trace[span.context.trace_id].append(span.name)
    publisher_span = otel.span(f"send {topics.input}")
    names = by_trace[publisher_span.context.trace_id]
    assert f"process {topics.input}" in names
    assert f"send {topics.results}" in names
    chats = [n for n in names if n.startswith("chat ")]
    # three stages; summary and anomalies (which see the document) each retried once
    assert len(chats) == 5
    result = json.loads((await read_all(settings, topics.results))[0].value or b"")
    assert result["trace_id"] == f"{publisher_span.context.trace_id:032x}"
    for span in otel.spans():
        for value in (span.attributes or {}).values():
            assert SECRET_TEXT not in str(value)


async def test_dlq_record_carries_the_trace_of_the_failed_processing(
    settings_factory: SettingsFactory, otel: InMemoryTelemetry
) -> None:
    """A dead-lettered document's DLQ record has a traceparent in its trace, and the
    process span records the DLQ send."""
    settings = settings_factory({"kafka.topics.partitions": 1})
    topics = settings.kafka.topics
    await publish(settings, [])
    await publish_documents(settings.kafka, topics.input, [{"id": "r1", "text": "<<refused>>"}])

    await run_worker(settings, stop=StopPolicy(until_idle_s=1.0), client=ScriptedClaude())

    publisher_span = otel.span(f"send {topics.input}")
    dlq_send = otel.span(f"send {topics.dlq}")
    assert dlq_send.context.trace_id == publisher_span.context.trace_id
    record = (await read_all(settings, topics.dlq))[0]
    traceparent = header(record, "traceparent")
    assert traceparent is not None
    assert traceparent.split("-")[1] == f"{publisher_span.context.trace_id:032x}"
