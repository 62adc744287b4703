"""W3C trace context in Kafka headers: inject, extract, replay header."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import SpanContext

from stream.telemetry.propagation import (
    REPLAY_TRACEPARENT_HEADER,
    extract,
    extract_replay_context,
    inject,
    replay_header,
    traceparent_of,
)
from stream.telemetry.providers import get_tracer
from stream.telemetry.setup import InMemoryTelemetry

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _tp(ctx: SpanContext) -> str:
    """traceparent spelled out by hand (flags as the SDK set them: sampled, random id)."""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def test_inject_inside_span_adds_its_traceparent(otel: InMemoryTelemetry) -> None:
    """inject() writes the current span's context as a W3C traceparent header."""
    headers: list[tuple[str, bytes]] = [("docstream.x", b"1")]
    with get_tracer().start_as_current_span("s") as span:
        returned = inject(headers)
    assert returned is headers
    ctx = span.get_span_context()
    assert headers == [
        ("docstream.x", b"1"),
        ("traceparent", _tp(ctx).encode()),
    ]


def test_inject_existing_trace_headers_are_replaced(otel: InMemoryTelemetry) -> None:
    """A forwarded record never carries two traceparents: old ones (any case) are removed."""
    headers = [("TraceParent", TP.encode()), ("tracestate", b"a=b"), ("k", b"v")]
    with get_tracer().start_as_current_span("s") as span:
        inject(headers)
    names = [name for name, _ in headers]
    assert names == ["k", "traceparent"]
    assert headers[1][1].decode() == traceparent_of(span)


def test_inject_without_valid_context_only_removes_stale_headers() -> None:
    """With nothing to propagate, no traceparent is invented and stale ones go."""
    headers = [("traceparent", TP.encode()), ("k", b"v")]
    inject(headers, context=trace.set_span_in_context(trace.INVALID_SPAN))
    assert headers == [("k", b"v")]


def test_extract_roundtrip_keeps_trace_and_tracestate() -> None:
    """extract() reads traceparent and tracestate back into a remote span context."""
    ctx = trace.get_current_span(
        extract([("traceparent", TP.encode()), ("tracestate", b"vendor=1")])
    ).get_span_context()
    assert ctx.is_valid and ctx.is_remote
    assert f"{ctx.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{ctx.span_id:016x}" == "b7ad6b7169203331"
    assert ctx.trace_state.get("vendor") == "1"
    headers: list[tuple[str, bytes]] = []
    inject(headers, context=extract([("traceparent", TP.encode()), ("tracestate", b"vendor=1")]))
    assert headers == [("traceparent", TP.encode()), ("tracestate", b"vendor=1")]


@given(st.lists(st.tuples(st.sampled_from(["traceparent", "tracestate", "x"]), st.binary())))
def test_extract_arbitrary_header_bytes_never_raise(headers: list[tuple[str, bytes]]) -> None:
    """Headers are untrusted input: garbage yields an empty or valid context, not an error."""
    ctx = trace.get_current_span(extract(headers)).get_span_context()
    assert ctx.is_valid or ctx == trace.INVALID_SPAN_CONTEXT


def test_extract_invalid_utf8_is_ignored() -> None:
    """A traceparent that is not UTF-8 carries no context."""
    ctx = trace.get_current_span(extract([("traceparent", b"\xff\xfe00-")])).get_span_context()
    assert not ctx.is_valid


def test_traceparent_of_invalid_span_is_empty() -> None:
    """traceparent_of() of the invalid span is the empty string (no context to name)."""
    assert traceparent_of(trace.INVALID_SPAN) == ""


def test_replay_header_from_dlq_record_names_its_traceparent() -> None:
    """replay_header() turns a DLQ record's traceparent into docstream.replay.traceparent."""
    header = replay_header([("docstream.stage", b"s"), ("traceparent", TP.encode())])
    assert header == (REPLAY_TRACEPARENT_HEADER, TP.encode())
    replayed = extract_replay_context([header])
    assert replayed is not None and f"{replayed.span_id:016x}" == "b7ad6b7169203331"
    assert replay_header([("k", b"v")]) is None
    assert extract_replay_context([(REPLAY_TRACEPARENT_HEADER, b"garbage")]) is None
