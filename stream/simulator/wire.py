"""Bytes on the wire: HTTP/1.1 response heads, chunked framing, SSE events, API bodies.

Everything here is string templates rather than ``json.dumps`` of whole dicts: the
simulator must answer thousands of requests a second on one core, and only the model's
text needs JSON escaping. Shapes follow the Messages API exactly (field order as the
real API sends it), so the official SDK parses them unmodified.
"""

from __future__ import annotations

import json
from typing import Final

from stream.simulator.cache import InputUsage

__all__ = [
    "JSON",
    "LAST_CHUNK",
    "SSE",
    "chunk",
    "error_body",
    "head",
    "message_body",
    "response",
    "sse_error",
    "sse_message_events",
    "sse_message_start",
]

JSON: Final = "application/json"
SSE: Final = "text/event-stream; charset=utf-8"
LAST_CHUNK: Final = b"0\r\n\r\n"

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    529: "Site Overloaded",
}
_STATUS_LINES: Final = {code: f"HTTP/1.1 {code} {text}\r\n" for code, text in _REASONS.items()}


def head(
    status: int,
    headers: str,
    content_type: str = JSON,
    length: int | None = None,
    keep_alive: bool = True,
) -> bytes:
    """Status line and headers; ``length=None`` means a chunked (streamed) body.

    ``headers`` are extra CRLF-terminated lines (request-id, rate-limit headers...).
    """
    status_line = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n"
    framing = (
        "transfer-encoding: chunked\r\n" if length is None else f"content-length: {length}\r\n"
    )
    streaming = "cache-control: no-cache\r\n" if length is None else ""
    connection = "" if keep_alive else "connection: close\r\n"
    return (
        f"{status_line}content-type: {content_type}\r\n{framing}{streaming}{connection}"
        f"{headers}\r\n"
    ).encode("latin-1")


def response(status: int, headers: str, body: bytes, keep_alive: bool = True) -> bytes:
    """A complete response with a Content-Length body."""
    return head(status, headers, JSON, len(body), keep_alive) + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_body(
    kind: str, message: str, request_id: str, details: dict[str, str] | None = None
) -> bytes:
    """``{"type":"error","error":{"type":...,"message":...},"request_id":...}``."""
    error: dict[str, object] = {"type": kind, "message": message}
    if details is not None:
        error["details"] = details
    payload = {"type": "error", "error": error, "request_id": request_id}
    return json.dumps(payload, separators=(",", ":")).encode()


_REFUSAL_DETAILS: Final = ',"stop_details":{"type":"refusal","category":null,"explanation":null}'


def _usage(tokens_in: InputUsage, output_tokens: int) -> str:
    return (
        f'{{"input_tokens":{tokens_in.input_tokens},'
        f'"cache_creation_input_tokens":{tokens_in.cache_creation},'
        f'"cache_read_input_tokens":{tokens_in.cache_read},'
        f'"cache_creation":{{"ephemeral_5m_input_tokens":{tokens_in.write_5m},'
        f'"ephemeral_1h_input_tokens":{tokens_in.write_1h}}},'
        f'"output_tokens":{output_tokens},"service_tier":"standard"}}'
    )


def message_body(
    message_id: str,
    model_json: str,
    text: str,
    stop_reason: str,
    tokens_in: InputUsage,
    output_tokens: int,
) -> bytes:
    """The non-streaming Message object (``model_json`` is already JSON-encoded)."""
    details = _REFUSAL_DETAILS if stop_reason == "refusal" else ""
    return (
        f'{{"id":"{message_id}","type":"message","role":"assistant","model":{model_json},'
        f'"content":[{{"type":"text","text":{json.dumps(text)}}}],'
        f'"stop_reason":"{stop_reason}","stop_sequence":null{details},'
        f'"usage":{_usage(tokens_in, output_tokens)}}}'
    ).encode()


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def sse_message_start(message_id: str, model_json: str, tokens_in: InputUsage) -> bytes:
    """The first event of every stream."""
    return _event(
        "message_start",
        f'{{"type":"message_start","message":{{"id":"{message_id}","type":"message",'
        f'"role":"assistant","model":{model_json},"content":[],"stop_reason":null,'
        f'"stop_sequence":null,"usage":{_usage(tokens_in, 1)}}}}}',
    )


def sse_message_events(
    message_id: str,
    model_json: str,
    deltas: list[str],
    stop_reason: str,
    tokens_in: InputUsage,
    output_tokens: int,
) -> tuple[bytes, list[bytes], bytes]:
    """The events of a streamed answer: (opening, one per delta, closing).

    Opening = message_start + content_block_start + ping; closing = content_block_stop
    + message_delta (stop_reason, usage.output_tokens) + message_stop.
    """
    opening = (
        sse_message_start(message_id, model_json, tokens_in)
        + _event(
            "content_block_start",
            '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        )
        + _event("ping", '{"type": "ping"}')
    )
    middle = [
        _event(
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
            + json.dumps(delta)
            + "}}",
        )
        for delta in deltas
    ]
    details = _REFUSAL_DETAILS if stop_reason == "refusal" else ""
    closing = (
        _event("content_block_stop", '{"type":"content_block_stop","index":0}')
        + _event(
            "message_delta",
            f'{{"type":"message_delta","delta":{{"stop_reason":"{stop_reason}",'
            f'"stop_sequence":null{details}}},"usage":{{"output_tokens":{output_tokens}}}}}',
        )
        + _event("message_stop", '{"type":"message_stop"}')
    )
    return opening, middle, closing


def sse_error(kind: str, message: str, request_id: str) -> bytes:
    """An ``event: error`` inside a 200 stream (how mid-stream overload arrives)."""
    return _event("error", error_body(kind, message, request_id).decode())
