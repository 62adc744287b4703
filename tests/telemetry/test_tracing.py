"""Messaging spans, wait spans and current-context helpers, against in-memory exporters."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from stream.config import TelemetrySettings
from stream.telemetry.propagation import REPLAY_TRACEPARENT_HEADER
from stream.telemetry.providers import get_tracer
from stream.telemetry.setup import InMemoryTelemetry, configure_telemetry
from stream.telemetry.tracing import (
    current_trace_id,
    current_traceparent,
    process_span,
    record_delivery,
    send_span,
    wait_span,
)

ORIGINAL_TP = "00-11111111111111111111111111111111-2222222222222222-01"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tp(ctx: SpanContext) -> str:
    """traceparent spelled out by hand (flags as the SDK set them: sampled, random id)."""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def test_send_span_has_messaging_attributes_and_injects_headers(otel: InMemoryTelemetry) -> None:
    """send <topic> is a PRODUCER span with the conventions' names; headers get its context."""
    headers: list[tuple[str, bytes]] = []
    with send_span("documents", key=b"doc-1", headers=headers) as span:
        record_delivery(span, partition=3, offset=42)
    finished = otel.span("send documents")
    assert finished.kind is SpanKind.PRODUCER
    assert dict(finished.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "documents",
        "messaging.kafka.message.key": "doc-1",
        "messaging.destination.partition.id": "3",
        "messaging.kafka.offset": 42,
    }
    ctx = finished.context
    assert headers == [("traceparent", _tp(ctx).encode())]


def test_send_span_binary_key_is_hex(otel: InMemoryTelemetry) -> None:
    """A key that is not UTF-8 is reported as hex (the attribute must be a string)."""
    with send_span("t", key=b"\xff\x00", headers=[]):
        pass
    assert (otel.span("send t").attributes or {})["messaging.kafka.message.key"] == "ff00"


def test_process_span_is_child_of_and_linked_to_producer(otel: InMemoryTelemetry) -> None:
    """Publisher -> headers -> worker: process is a CONSUMER child of send, plus a link."""
    headers: list[tuple[str, bytes]] = [("other", b"x")]
    with send_span("documents", key=b"d", headers=headers):
        pass
    with process_span("documents", 2, 7, b"d", "workers", headers) as span:
        trace_id = current_trace_id()
        assert span.is_recording()
    sent, processed = otel.span("send documents"), otel.span("process documents")
    assert processed.kind is SpanKind.CONSUMER
    assert processed.parent is not None
    assert processed.parent.span_id == sent.context.span_id
    assert processed.context.trace_id == sent.context.trace_id
    assert trace_id == f"{sent.context.trace_id:032x}"
    assert [(link.context.span_id, dict(link.attributes or {})) for link in processed.links] == [
        (sent.context.span_id, {"docstream.link": "creation"})
    ]
    assert dict(processed.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "documents",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 7,
        "messaging.kafka.message.key": "d",
        "messaging.consumer.group.name": "workers",
    }


def test_process_span_without_context_is_a_root(otel: InMemoryTelemetry) -> None:
    """A record with no traceparent starts a new trace and has no creation link."""
    with process_span("documents", 0, 1, None, "g", []):
        pass
    processed = otel.span("process documents")
    assert processed.parent is None and not processed.links
    assert "messaging.kafka.message.key" not in (processed.attributes or {})


def test_process_span_ambient_trace_becomes_a_link(otel: InMemoryTelemetry) -> None:
    """An ambient span of another trace is kept as a link (the creation context is parent)."""
    headers: list[tuple[str, bytes]] = [("traceparent", ORIGINAL_TP.encode())]
    with (
        get_tracer().start_as_current_span("poll") as poll,
        process_span("t", 0, 0, None, "g", headers),
    ):
        pass
    processed = otel.span("process t")
    assert processed.parent is not None and processed.parent.span_id == 0x2222222222222222
    kinds = {dict(link.attributes or {})["docstream.link"]: link for link in processed.links}
    assert kinds["ambient"].context.span_id == poll.get_span_context().span_id


def test_process_span_replayed_record_links_to_original(otel: InMemoryTelemetry) -> None:
    """docstream.replay.traceparent becomes a replayed_from link to the failed processing."""
    headers = [(REPLAY_TRACEPARENT_HEADER, ORIGINAL_TP.encode())]
    with process_span("documents", 0, 9, b"d", "g", headers):
        pass
    links = otel.span("process documents").links
    assert len(links) == 1
    assert f"{links[0].context.trace_id:032x}" == "11111111111111111111111111111111"
    assert f"{links[0].context.span_id:016x}" == "2222222222222222"
    assert dict(links[0].attributes or {}) == {"docstream.link": "replayed_from"}


def test_process_span_exception_sets_error_type_without_message(otel: InMemoryTelemetry) -> None:
    """An escaping exception marks the span failed by class only; no message, no event."""
    with pytest.raises(KeyError), process_span("t", 0, 0, None, "g", []):
        raise KeyError("secret document words")
    processed = otel.span("process t")
    assert processed.status.status_code is StatusCode.ERROR
    assert processed.status.description == "KeyError"
    assert (processed.attributes or {})["error.type"] == "KeyError"
    assert not processed.events
    assert "secret document words" not in processed.to_json()


def test_wait_span_records_child_with_waited_seconds(otel: InMemoryTelemetry) -> None:
    """A wait under a recording span becomes an INTERNAL child with the seconds waited."""
    clock = FakeClock()
    with (
        get_tracer().start_as_current_span("process t") as parent,
        wait_span("limiter.wait", clock=clock, model="m", permits=2) as waited,
    ):
        clock.now += 1.5
    assert waited.seconds == 1.5
    span = otel.span("limiter.wait")
    assert span.kind is SpanKind.INTERNAL
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert dict(span.attributes or {}) == {
        "docstream.wait.seconds": 1.5,
        "gen_ai.request.model": "m",
        "docstream.wait.permits": 2,
    }
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time - span.start_time == 1_500_000_000


@pytest.mark.parametrize(
    "kind", ["pacing.wait", "retry_after.wait", "retry.backoff", "breaker.wait"]
)
def test_wait_span_each_kind_is_named_for_it(otel: InMemoryTelemetry, kind: str) -> None:
    """Every wait kind produces a span of that name."""
    clock = FakeClock()
    with get_tracer().start_as_current_span("p"), wait_span(kind, clock=clock):
        clock.now += 0.25
    assert (otel.span(kind).attributes or {})["docstream.wait.seconds"] == 0.25


def test_wait_span_planned_seconds_kept_apart_from_measured(otel: InMemoryTelemetry) -> None:
    """seconds= (the chosen delay) is recorded beside, not over, the measured wait."""
    clock = FakeClock()
    with (
        get_tracer().start_as_current_span("p"),
        wait_span("retry.backoff", clock=clock, seconds=2.0, note=None),
    ):
        clock.now += 1.75
    assert dict(otel.span("retry.backoff").attributes or {}) == {
        "docstream.wait.planned_seconds": 2.0,
        "docstream.wait.seconds": 1.75,
    }


def test_wait_span_free_permit_makes_no_span_by_default(otel: InMemoryTelemetry) -> None:
    """A wait under the default 1 ms threshold (an immediate permit) creates no span."""
    clock = FakeClock()
    with get_tracer().start_as_current_span("p"), wait_span("limiter.wait", clock=clock):
        clock.now += 0.0005
    assert [s.name for s in otel.spans()] == ["p"]


def test_wait_span_below_min_seconds_is_skipped(otel: InMemoryTelemetry) -> None:
    """A wait shorter than min_seconds (a free permit) produces no span, but is timed."""
    clock = FakeClock()
    with (
        get_tracer().start_as_current_span("p"),
        wait_span("limiter.wait", clock=clock, min_seconds=0.01) as waited,
    ):
        clock.now += 0.001
    assert waited.seconds == pytest.approx(0.001)
    assert [s.name for s in otel.spans()] == ["p"]


def test_wait_span_without_recording_parent_is_timed_only(otel: InMemoryTelemetry) -> None:
    """With no recording parent no span is made; the seconds are still measured."""
    clock = FakeClock()
    with wait_span("retry.backoff", clock=clock) as waited:
        clock.now += 2.0
    assert waited.seconds == 2.0
    assert otel.spans() == ()


def test_current_traceparent_matches_span(otel: InMemoryTelemetry) -> None:
    """current_traceparent()/current_trace_id() name the active span, None outside."""
    assert current_traceparent() is None and current_trace_id() is None
    with get_tracer().start_as_current_span("s") as span:
        ctx = span.get_span_context()
        assert current_traceparent() == _tp(ctx)
        assert current_trace_id() == f"{ctx.trace_id:032x}"


def test_telemetry_off_passes_incoming_context_through() -> None:
    """Exporter none records nothing, yet results keep the publisher's trace id and parent."""
    with configure_telemetry(TelemetrySettings(), set_global=False):
        headers_in = [("traceparent", ORIGINAL_TP.encode())]
        with process_span("t", 0, 0, None, "g", headers_in) as span:
            assert not span.is_recording()
            assert current_trace_id() == "11111111111111111111111111111111"
            out: list[tuple[str, bytes]] = []
            with send_span("t.results", key=None, headers=out) as sent:
                assert not sent.is_recording()
        assert out == [("traceparent", ORIGINAL_TP.encode())]
        assert trace.get_current_span() is trace.INVALID_SPAN
