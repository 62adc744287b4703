"""``AnthropicClaudeClient``: the one ``ClaudeClient`` that speaks HTTP to a Messages API.

``AsyncAnthropic`` clients with ``max_retries=0`` (every attempt is a sample for the
limiter; our scheduler owns retries and backoff) over as many ``httpx2`` connections as
the worker's maximum concurrency, so a permit from the limiter never waits again for a
socket; every in-flight call shares them, in shards (``stream.claude.pool``). Calls go
through ``with_raw_response`` so the rate-limit headers, the request id and the status
reach the limiter and the DLQ.

Streaming mode (``CallRequest.stream``) measures the time to the first text token and
catches an ``error`` event that arrives inside a 200 response (for example an
``overloaded_error`` mid-answer), which the SDK raises as a bare ``APIStatusError``.

Timeouts are ``httpx2`` timeouts: ``timeout_s`` is the longest silence allowed on a read,
which for a non-streaming call is the whole answer time; ``connect_timeout_s`` bounds the
TCP/TLS connect. The caller's document deadline cancels a call that runs too long.

The document only ever reaches the user turn: ``CallRequest.user`` is sent as the single
user message and ``system`` as the system prompt; neither is logged, and the API key is
neither logged nor part of any error message.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic.types import Message, RawMessageStreamEvent

from stream.caching.rules import Ttl
from stream.claude.classify import (
    DEFAULT_MAX_OUTPUT_BYTES,
    Classification,
    MalformedResponse,
    classify_exception,
    classify_stop_reason,
    invalid_response,
    lower_headers,
    output_too_large,
)
from stream.claude.lifecycle import SDK_DEPRECATION_MESSAGE, end_of_life
from stream.claude.pool import SdkPool
from stream.claude.types import CallFailed, CallRequest, CallResult
from stream.errors import Outcome
from stream.models.result import CacheCreation, Usage

__all__ = ["AnthropicClaudeClient"]

_log = logging.getLogger("stream.claude")


@dataclass(slots=True)
class _Answer:
    """What a response (or a stream so far) has told us; becomes the CallResult."""

    model: str
    text_parts: list[str] = field(default_factory=list)
    text_bytes: int = 0
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    response_id: str | None = None
    ttft_s: float | None = None
    http_status: int | None = None
    request_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def add_text(self, text: str, cap_bytes: int) -> None:
        """Keep text up to just past the cap; beyond it only the size is counted."""
        self.text_bytes += len(text.encode("utf-8"))
        if self.text_bytes <= cap_bytes or not self.text_parts:
            self.text_parts.append(text)


class AnthropicClaudeClient:
    """ClaudeClient over the official SDK; see the module docstring for the policy."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        pool_size: int,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        timeout = httpx2.Timeout(timeout_s, connect=connect_timeout_s)
        self._pool = SdkPool(
            api_key=api_key, base_url=base_url, pool_size=pool_size, timeout=timeout
        )
        self._max_output_bytes = max_output_bytes
        self._clock = clock
        self._warned_models: set[str] = set()
        self.base_url = base_url
        self.pool_size = pool_size

    async def call(self, request: CallRequest) -> CallResult:
        """One attempt; API and network failures come back classified, bugs raise."""
        started = self._clock()
        answer = _Answer(model=request.model)
        try:
            async with self._pool.lease() as sdk:
                if request.stream:
                    await self._stream(sdk, request, answer, started)
                else:
                    await self._once(sdk, request, answer)
        except Exception as exc:
            verdict = classify_exception(exc, forbidden_text=request.user)
            if verdict is None:
                raise
            return self._failed(request, answer, verdict, started)
        return self._finished(request, answer, started)

    async def count_tokens(self, request: CallRequest) -> int:
        """The API's input-token count for this request (``/v1/messages/count_tokens``)."""
        started = self._clock()
        try:
            async with self._pool.lease() as sdk:
                counted = await sdk.messages.count_tokens(
                    model=request.model,
                    system=request.system or anthropic.omit,
                    messages=[{"role": "user", "content": request.user}],
                )
        except Exception as exc:
            verdict = classify_exception(exc, forbidden_text=request.user)
            if verdict is None:
                raise
            answer = _Answer(model=request.model)
            raise CallFailed(self._failed(request, answer, verdict, started)) from None
        return int(counted.input_tokens)

    async def aclose(self) -> None:
        """Close the SDK clients and their connections; the client is unusable after."""
        await self._pool.aclose()

    # -- one attempt ----------------------------------------------------------------

    def _params(self, request: CallRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": _user_content(request)}],
        }
        if request.system_cache and request.system:
            params["system"] = [_block(request.system, request.system_cache)]
        elif request.system:
            params["system"] = request.system
        if request.temperature is not None:
            # This SDK's create() has no temperature parameter, so it rides in the body; an
            # endpoint that rejects it answers 400, which classifies as BAD_REQUEST.
            params["extra_body"] = {"temperature": request.temperature}
        self._note_deprecated(request.model)
        return params

    async def _once(
        self, sdk: anthropic.AsyncAnthropic, request: CallRequest, answer: _Answer
    ) -> None:
        raw = await sdk.messages.with_raw_response.create(**self._params(request))
        _note_response(answer, raw.http_response)
        try:
            message = await raw.parse()
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, Message):
            raise MalformedResponse("the 200 body is not a Messages API answer")
        answer.model = _str(getattr(message, "model", None)) or answer.model
        answer.response_id = _str(getattr(message, "id", None))
        answer.stop_reason = _str(getattr(message, "stop_reason", None))
        answer.usage = _usage(getattr(message, "usage", None), answer.usage)
        for block in getattr(message, "content", None) or ():
            if getattr(block, "type", None) == "text":
                answer.add_text(str(block.text), self._max_output_bytes)

    async def _stream(
        self, sdk: anthropic.AsyncAnthropic, request: CallRequest, answer: _Answer, started: float
    ) -> None:
        raw = await sdk.messages.with_raw_response.create(**self._params(request), stream=True)
        _note_response(answer, raw.http_response)
        events = await raw.parse()
        try:
            async for event in events:
                self._apply(event, answer, started)
        finally:
            await events.close()

    def _apply(self, event: RawMessageStreamEvent, answer: _Answer, started: float) -> None:
        # getattr throughout: an event type newer than this SDK arrives as a plain object.
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = getattr(event, "message", None)
            answer.model = _str(getattr(message, "model", None)) or answer.model
            answer.response_id = _str(getattr(message, "id", None))
            answer.usage = _usage(getattr(message, "usage", None), answer.usage)
        elif kind == "content_block_delta":
            delta = getattr(event, "delta", None)
            text = getattr(delta, "text", None)
            if getattr(delta, "type", None) == "text_delta" and isinstance(text, str):
                if answer.ttft_s is None:
                    answer.ttft_s = self._clock() - started
                answer.add_text(text, self._max_output_bytes)
        elif kind == "message_delta":
            delta = getattr(event, "delta", None)
            answer.stop_reason = _str(getattr(delta, "stop_reason", None)) or answer.stop_reason
            answer.usage = _usage(getattr(event, "usage", None), answer.usage)

    # -- results ----------------------------------------------------------------------

    def _finished(self, request: CallRequest, answer: _Answer, started: float) -> CallResult:
        if answer.text_bytes > self._max_output_bytes:
            verdict = output_too_large(answer.text_bytes, self._max_output_bytes)
            return self._failed(request, answer, verdict, started)
        outcome, error_class = classify_stop_reason(answer.stop_reason)
        if outcome is Outcome.TRANSIENT:
            verdict = invalid_response("the answer ended without a stop reason")
            return self._failed(request, answer, verdict, started)
        result = CallResult(
            outcome=outcome,
            text="".join(answer.text_parts) if outcome is not Outcome.REFUSED else "",
            finish_reason=answer.stop_reason,
            usage=answer.usage,
            model=answer.model,
            request_id=answer.request_id,
            http_status=answer.http_status,
            headers=answer.headers,
            retry_after_s=None,
            error_class=error_class,
            error_text=_stop_message(outcome, answer.stop_reason),
            latency_s=self._clock() - started,
            ttft_s=answer.ttft_s,
            response_id=answer.response_id,
        )
        self._log(request, result)
        return result

    def _failed(
        self, request: CallRequest, answer: _Answer, verdict: Classification, started: float
    ) -> CallResult:
        result = CallResult(
            outcome=verdict.outcome,
            text="",
            finish_reason=answer.stop_reason,
            usage=answer.usage,
            model=answer.model,
            request_id=verdict.request_id or answer.request_id,
            http_status=verdict.http_status or answer.http_status,
            headers=verdict.headers or answer.headers,
            retry_after_s=verdict.retry_after_s,
            error_class=verdict.error_class,
            error_text=verdict.error_text,
            latency_s=self._clock() - started,
            ttft_s=answer.ttft_s,
            response_id=answer.response_id,
        )
        self._log(request, result)
        return result

    def _log(self, request: CallRequest, result: CallResult) -> None:
        # Ids, status and sizes only: never prompt text, answer text or credentials.
        _log.debug(
            "claude call doc=%s stage=%s model=%s outcome=%s class=%s status=%s request_id=%s "
            "latency=%.3fs in=%d out=%d",
            request.document_id,
            request.stage,
            result.model,
            result.outcome.value,
            result.error_class,
            result.http_status,
            result.request_id,
            result.latency_s,
            result.usage.input_tokens,
            result.usage.output_tokens,
        )

    def _note_deprecated(self, model: str) -> None:
        """Say once, in the log, that a model is deprecated, instead of a Python warning.

        The SDK warns with ``DeprecationWarning`` on every call: invisible in production
        (ignored by default) and an exception under ``-W error``. The operator needs it
        once, in the log, from our own table (``stream.claude.lifecycle``); the SDK's
        warning is filtered for that message only.
        """
        warnings.filterwarnings(
            "ignore", message=SDK_DEPRECATION_MESSAGE, category=DeprecationWarning
        )
        date = end_of_life(model)
        if date is not None and model not in self._warned_models:
            self._warned_models.add(model)
            _log.warning("model %s is deprecated and reaches end-of-life on %s", model, date)


def _user_content(request: CallRequest) -> str | list[dict[str, Any]]:
    """The user turn: plain text, or text blocks when a part carries a cache breakpoint."""
    if not any(part.cache for part in request.user_parts):
        return request.user
    return [_block(part.text, part.cache) for part in request.user_parts if part.text]


def _block(text: str, cache: Ttl | None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cache is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": cache}
    return block


def _note_response(answer: _Answer, response: httpx2.Response) -> None:
    answer.http_status = response.status_code
    answer.headers = lower_headers(response.headers.items())
    answer.request_id = answer.headers.get("request-id")


def _usage(reported: object, previous: Usage) -> Usage:
    """Merge a usage object into what we know; a stream reports fields in two events."""
    if reported is None:
        return previous

    def pick(source: object, name: str, old: int) -> int:
        value = getattr(source, name, None)
        return int(value) if isinstance(value, int) else old

    split = getattr(reported, "cache_creation", None)
    before = previous.cache_creation
    return Usage(
        input_tokens=pick(reported, "input_tokens", previous.input_tokens),
        output_tokens=pick(reported, "output_tokens", previous.output_tokens),
        cache_read_input_tokens=pick(
            reported, "cache_read_input_tokens", previous.cache_read_input_tokens
        ),
        cache_creation_input_tokens=pick(
            reported, "cache_creation_input_tokens", previous.cache_creation_input_tokens
        ),
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=pick(
                split, "ephemeral_5m_input_tokens", before.ephemeral_5m_input_tokens
            ),
            ephemeral_1h_input_tokens=pick(
                split, "ephemeral_1h_input_tokens", before.ephemeral_1h_input_tokens
            ),
        ),
    )


def _stop_message(outcome: Outcome, stop_reason: str | None) -> str | None:
    if outcome is Outcome.SUCCESS:
        return None
    return f"the answer stopped with stop_reason {stop_reason}"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
