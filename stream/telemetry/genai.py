"""The ``chat <model>`` span of one Claude attempt (OpenTelemetry GenAI conventions).

One span per attempt, kind CLIENT, named ``{gen_ai.operation.name} {gen_ai.request.model}``
(mission-anchors.md section 8). Usage follows the Anthropic rule of the conventions:
``gen_ai.usage.input_tokens`` is input + cache read + cache creation, because Anthropic's
own ``input_tokens`` excludes cached tokens.

Prompts, documents and outputs are sensitive: ``record_chat_content`` writes
``gen_ai.system_instructions`` / ``gen_ai.input.messages`` / ``gen_ai.output.messages``
only when ``telemetry.capture_content`` is on; otherwise it returns without even
serialising them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from stream.telemetry.providers import content_capture_enabled
from stream.telemetry.spans import mark_error, open_span

__all__ = [
    "PROVIDER_NAME",
    "chat_span",
    "record_chat_content",
    "record_chat_result",
    "record_first_chunk",
]

PROVIDER_NAME = "anthropic"
OPERATION_CHAT = "chat"


@contextmanager
def chat_span(
    model: str,
    *,
    max_tokens: int,
    temperature: float | None,
    stage: str,
    attempt: int,
    stream: bool,
    server_address: str | None = None,
    server_port: int | None = None,
) -> Iterator[Span]:
    """The CLIENT span around one Messages API attempt; finish it with
    ``record_chat_result`` inside the block."""
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": OPERATION_CHAT,
        "gen_ai.provider.name": PROVIDER_NAME,
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": max_tokens,
        "gen_ai.request.stream": stream,
        "docstream.stage": stage,
        "docstream.attempt": attempt,
    }
    if temperature is not None:
        attributes["gen_ai.request.temperature"] = temperature
    if server_address is not None:
        attributes["server.address"] = server_address
    if server_port is not None:
        attributes["server.port"] = server_port
    with open_span(f"{OPERATION_CHAT} {model}", SpanKind.CLIENT, attributes) as span:
        yield span


def record_chat_result(
    span: Span,
    *,
    response_id: str | None = None,
    response_model: str | None = None,
    finish_reason: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_read: int | None = None,
    cache_creation: int | None = None,
    error_type: str | None = None,
    request_id: str | None = None,
    http_status: int | None = None,
) -> None:
    """Response attributes of one attempt. ``input_tokens`` is Anthropic's raw
    ``usage.input_tokens``; the span gets the conventions' total (input + cache read +
    cache creation). ``error_type`` (an outcome such as ``rate_limited``) sets
    ``error.type`` and an ERROR status."""
    if not span.is_recording():
        return
    values: dict[str, AttributeValue | None] = {
        "gen_ai.response.id": response_id,
        "gen_ai.response.model": response_model,
        "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.usage.cache_read.input_tokens": cache_read,
        "gen_ai.usage.cache_creation.input_tokens": cache_creation,
        "docstream.anthropic.request_id": request_id,
        "http.response.status_code": http_status,
    }
    if finish_reason is not None:
        values["gen_ai.response.finish_reasons"] = [finish_reason]
    if input_tokens is not None:
        values["gen_ai.usage.input_tokens"] = (
            input_tokens + (cache_read or 0) + (cache_creation or 0)
        )
    span.set_attributes({name: value for name, value in values.items() if value is not None})
    if error_type is not None:
        mark_error(span, error_type)


def record_first_chunk(span: Span, seconds: float) -> None:
    """Streaming only: ``gen_ai.response.time_to_first_chunk`` in seconds."""
    if span.is_recording():
        span.set_attribute("gen_ai.response.time_to_first_chunk", seconds)


def record_chat_content(
    span: Span,
    *,
    system: str | None = None,
    messages: Sequence[Mapping[str, Any]] = (),
    output: str | None = None,
    finish_reason: str | None = None,
) -> None:
    """Opt-in content: system prompt, Anthropic-style ``messages`` (``role`` plus
    ``content`` as a string or a list of ``{"type": "text", "text": ...}`` blocks) and the
    output text, in the conventions' JSON shapes. A no-op unless capture is switched on."""
    if not content_capture_enabled() or not span.is_recording():
        return
    if system is not None:
        span.set_attribute(
            "gen_ai.system_instructions", _dumps([{"type": "text", "content": system}])
        )
    if messages:
        span.set_attribute(
            "gen_ai.input.messages",
            _dumps([{"role": m["role"], "parts": _parts(m.get("content"))} for m in messages]),
        )
    if output is not None:
        message: dict[str, Any] = {
            "role": "assistant",
            "parts": [{"type": "text", "content": output}],
        }
        if finish_reason is not None:
            message["finish_reason"] = finish_reason
        span.set_attribute("gen_ai.output.messages", _dumps([message]))


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in content:
        if block.get("type") == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        else:  # images, documents, tool blocks: name the type, carry no payload
            parts.append({"type": str(block.get("type", "unknown"))})
    return parts


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
