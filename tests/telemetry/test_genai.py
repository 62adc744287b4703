"""The chat <model> span: GenAI attribute names, the Anthropic usage rule, content capture."""

from __future__ import annotations

import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from stream.telemetry.setup import InMemoryTelemetry
from stream.telemetry.tracing import (
    chat_span,
    record_chat_content,
    record_chat_result,
    record_first_chunk,
)


def _chat(**overrides: object) -> None:
    with chat_span(
        "claude-sonnet-4-5",
        max_tokens=1024,
        temperature=0.2,
        stage="summarize",
        attempt=2,
        stream=False,
        server_address="api.anthropic.com",
        server_port=443,
    ) as span:
        record_chat_result(
            span,
            **{
                "response_id": "msg_01",
                "response_model": "claude-sonnet-4-5-20250929",
                "finish_reason": "end_turn",
                "input_tokens": 100,
                "output_tokens": 50,
                "cache_read": 30,
                "cache_creation": 7,
                "request_id": "req_9",
                "http_status": 200,
                **overrides,
            },  # type: ignore[arg-type]
        )


def test_chat_span_has_genai_attributes(otel: InMemoryTelemetry) -> None:
    """chat <model> is a CLIENT span with the conventions' attribute names and values."""
    _chat()
    span = otel.span("chat claude-sonnet-4-5")
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.request.max_tokens": 1024,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.stream": False,
        "server.address": "api.anthropic.com",
        "server.port": 443,
        "docstream.stage": "summarize",
        "docstream.attempt": 2,
        "gen_ai.response.id": "msg_01",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 137,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 30,
        "gen_ai.usage.cache_creation.input_tokens": 7,
        "docstream.anthropic.request_id": "req_9",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_chat_usage_without_cache_is_raw_input(otel: InMemoryTelemetry) -> None:
    """With no cache figures the input usage is Anthropic's input_tokens as is."""
    _chat(cache_read=None, cache_creation=None)
    attributes = otel.span("chat claude-sonnet-4-5").attributes or {}
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert "gen_ai.usage.cache_read.input_tokens" not in attributes


def test_chat_error_type_sets_status(otel: InMemoryTelemetry) -> None:
    """error_type (an outcome) becomes error.type and an ERROR status, kept if it raises."""
    with (
        pytest.raises(RuntimeError),
        chat_span("m", max_tokens=1, temperature=None, stage="s", attempt=1, stream=True) as span,
    ):
        record_chat_result(span, error_type="rate_limited", http_status=429, request_id="r")
        raise RuntimeError("429 body quoting the prompt")
    finished = otel.span("chat m")
    attributes = finished.attributes or {}
    assert attributes["error.type"] == "rate_limited"
    assert attributes["http.response.status_code"] == 429
    assert "gen_ai.request.temperature" not in attributes
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.status.description == "rate_limited"
    assert not finished.events


def test_chat_first_chunk_recorded(otel: InMemoryTelemetry) -> None:
    """Streaming calls record gen_ai.response.time_to_first_chunk."""
    with chat_span("m", max_tokens=1, temperature=None, stage="s", attempt=1, stream=True) as span:
        record_first_chunk(span, 0.42)
    assert (otel.span("chat m").attributes or {})["gen_ai.response.time_to_first_chunk"] == 0.42


def _content(span: object) -> None:
    record_chat_content(
        span,  # type: ignore[arg-type]
        system="You summarise.",
        messages=[
            {"role": "user", "content": "<document>Hello world</document>"},
            {"role": "user", "content": [{"type": "text", "text": "more"}, {"type": "image"}]},
        ],
        output="A greeting.",
        finish_reason="end_turn",
    )


def test_chat_content_not_captured_by_default(otel: InMemoryTelemetry) -> None:
    """Without the switch no gen_ai content attribute is written."""
    with chat_span("m", max_tokens=1, temperature=None, stage="s", attempt=1, stream=False) as s:
        _content(s)
    attributes = otel.span("chat m").attributes or {}
    assert not {
        "gen_ai.system_instructions",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
    } & set(attributes)


def test_chat_content_captured_when_switched_on(otel_capture: InMemoryTelemetry) -> None:
    """With capture on, content lands in the conventions' JSON shapes."""
    with chat_span("m", max_tokens=1, temperature=None, stage="s", attempt=1, stream=False) as s:
        _content(s)
    attributes = otel_capture.span("chat m").attributes or {}
    assert json.loads(str(attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "You summarise."}
    ]
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "<document>Hello world</document>"}],
        },
        {"role": "user", "parts": [{"type": "text", "content": "more"}, {"type": "image"}]},
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "A greeting."}],
            "finish_reason": "end_turn",
        }
    ]
