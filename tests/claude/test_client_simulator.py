"""AnthropicClaudeClient against the project's Messages API simulator over real HTTP.

Every row of the outcome taxonomy the simulator can produce is driven through the
official SDK, in both non-streaming and streaming mode where they differ. The document
text carries a sentinel that must never appear in an error message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest

from stream.claude import CallFailed, CallRequest, CallResult, ClaudeClient
from stream.claude.client import AnthropicClaudeClient
from stream.errors import Outcome

SENTINEL = "SENTINEL-DOCUMENT-TEXT-a1b2c3d4e5f6-that-must-never-reach-an-error-message"
ANY = object()  # an http_status the test does not pin down

Factory = Callable[..., Awaitable[Any]]


def _request(
    marker: str = "",
    *,
    stream: bool = False,
    model: str = "claude-haiku-4-5",
    max_tokens: int = 256,
    temperature: float | None = None,
) -> CallRequest:
    fault = f" [[sim:{marker}]]" if marker else ""
    return CallRequest(
        model=model,
        system="Summarise the document in the user turn.",
        user=f"<document>\n{SENTINEL}{fault}\n</document>",
        max_tokens=max_tokens,
        temperature=temperature,
        stream=stream,
        document_id="doc-1",
        stage="summary",
    )


def _client(
    base_url: str,
    *,
    timeout_s: float = 10.0,
    pool_size: int = 8,
    max_output_bytes: int | None = None,
) -> AnthropicClaudeClient:
    extra: dict[str, Any] = {}
    if max_output_bytes is not None:
        extra["max_output_bytes"] = max_output_bytes
    return AnthropicClaudeClient(
        api_key="sk-test-simulator",
        base_url=base_url,
        pool_size=pool_size,
        timeout_s=timeout_s,
        connect_timeout_s=2.0,
        **extra,
    )


@pytest.fixture
async def claude(simulator: Any) -> AsyncIterator[AnthropicClaudeClient]:
    client = _client(simulator.base_url)
    yield client
    await client.aclose()


def _assert_failure(result: CallResult, outcome: Outcome, error_class: str, status: object) -> None:
    assert (result.outcome, result.error_class) == (outcome, error_class), result
    if status is not ANY:
        assert result.http_status == status, result
    assert result.text == ""
    assert result.error_message is not None and len(result.error_message) <= 500
    assert SENTINEL not in result.error_message


async def _admin(
    base_url: str, method: str, path: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    async with httpx2.AsyncClient(base_url=base_url, timeout=5.0) as http:
        response = await http.request(method, path, json=payload)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


# -- success -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_call_end_turn_is_success_with_usage_headers_and_ids(
    simulator_factory: Factory, stream: bool
) -> None:
    """A normal answer: SUCCESS, text, usage, served model, request/response ids, headers."""
    limited = await simulator_factory(rpm=100_000, itpm=10**9, otpm=10**9, base_latency_s=0.01)
    claude = _client(limited.base_url)
    assert isinstance(claude, ClaudeClient)
    try:
        result = await claude.call(_request(stream=stream))
    finally:
        await claude.aclose()
    assert result.outcome is Outcome.SUCCESS and result.finish_reason == "end_turn"
    assert result.text and result.error_class is None and result.error_message is None
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.model == "claude-haiku-4-5" and result.http_status == 200
    assert result.request_id and result.response_id
    assert any(name.startswith("anthropic-ratelimit-") for name in result.headers)
    assert all(name == name.lower() for name in result.headers)
    assert result.latency_s >= 0.0
    if stream:
        assert result.ttft_s is not None and 0.0 <= result.ttft_s <= result.latency_s
    else:
        assert result.ttft_s is None


async def test_call_badjson_answer_is_success_left_to_output_validation(
    claude: AnthropicClaudeClient,
) -> None:
    """Model text that is not valid JSON is still an API success (the pipeline validates)."""
    result = await claude.call(_request("badjson"))
    assert result.outcome is Outcome.SUCCESS
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.text)


async def test_call_with_temperature_is_accepted(claude: AnthropicClaudeClient) -> None:
    """temperature travels in the body (this SDK's create() has no parameter for it)."""
    assert (await claude.call(_request(temperature=0.2))).outcome is Outcome.SUCCESS


async def test_call_deprecated_model_succeeds_under_warnings_as_errors(
    claude: AnthropicClaudeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK's per-call DeprecationWarning becomes one log line, not an exception.

    claude-opus-4-5 is deprecated in our table and in the locked SDK's, so this also
    proves the SDK's own warning cannot fail a call under ``-W error``.
    """
    with caplog.at_level(logging.WARNING, logger="stream.claude"):
        for _ in range(2):
            result = await claude.call(_request(model="claude-opus-4-5"))
            assert result.outcome is Outcome.SUCCESS
    assert sum("deprecated" in r.getMessage() for r in caplog.records) == 1


# -- error responses: the same in both modes -----------------------------------------

_ERROR_ROWS = [
    ("prompt_too_long", Outcome.BAD_REQUEST, "prompt_too_long", 400),
    ("too_large", Outcome.BAD_REQUEST, "request_too_large", 413),
    ("auth", Outcome.AUTH, "authentication_error", 401),
    ("forbidden", Outcome.AUTH, "permission_error", 403),
    ("unknown_model", Outcome.CONFIG, "not_found_error", 404),
    ("spend_cap", Outcome.SPEND_CAP, "enforced_spend_limit_reached", 429),
    ("rate_limit", Outcome.RATE_LIMITED, "rate_limit_error", 429),
    ("overloaded", Outcome.OVERLOADED, "overloaded_error", 529),
    ("error500", Outcome.TRANSIENT, "api_error", 500),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("marker", "outcome", "error_class", "status"), _ERROR_ROWS)
async def test_call_error_response_is_classified(
    claude: AnthropicClaudeClient,
    marker: str,
    outcome: Outcome,
    error_class: str,
    status: int,
    stream: bool,
) -> None:
    """Each API error lands in its taxonomy row, with status, request id, no document text."""
    result = await claude.call(_request(marker, stream=stream))
    _assert_failure(result, outcome, error_class, status)
    assert result.request_id
    if marker == "rate_limit":
        assert result.retry_after_s is not None and result.retry_after_s > 0
    if marker == "spend_cap":
        assert result.retry_after_s is None


async def test_call_model_not_starting_with_claude_is_config(
    claude: AnthropicClaudeClient,
) -> None:
    """An unknown model name is CONFIG (404): the worker pauses, nothing is DLQ'd."""
    _assert_failure(
        await claude.call(_request(model="gpt-4o")), Outcome.CONFIG, "not_found_error", 404
    )


# -- delivery faults ---------------------------------------------------------------

_DELIVERY_ROWS = [
    ("reset", False, Outcome.TRANSIENT, "connection_reset", ANY),
    ("reset", True, Outcome.TRANSIENT, "connection_reset", 200),
    ("overloaded_stream", True, Outcome.OVERLOADED, "overloaded_error", 200),
    ("overloaded_stream", False, Outcome.OVERLOADED, "overloaded_error", 529),
    ("refusal", False, Outcome.REFUSED, "refusal", 200),
    ("refusal", True, Outcome.REFUSED, "refusal", 200),
    ("oversized", False, Outcome.BAD_REQUEST, "output_too_large", 200),
    ("oversized", True, Outcome.BAD_REQUEST, "output_too_large", 200),
]


@pytest.mark.parametrize(("marker", "stream", "outcome", "error_class", "status"), _DELIVERY_ROWS)
async def test_call_delivery_fault_is_classified(
    claude: AnthropicClaudeClient,
    marker: str,
    stream: bool,
    outcome: Outcome,
    error_class: str,
    status: object,
) -> None:
    """Resets, in-stream overload, refusals and oversized answers each land in their row."""
    result = await claude.call(_request(marker, stream=stream))
    _assert_failure(result, outcome, error_class, status)
    if marker in ("refusal", "oversized"):
        assert result.usage.output_tokens > 0, "a billed answer keeps its usage for cost"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_call_max_tokens_is_truncated_with_text(
    claude: AnthropicClaudeClient, stream: bool
) -> None:
    """stop_reason max_tokens keeps the text and flags it TRUNCATED."""
    result = await claude.call(_request("max_tokens", stream=stream, max_tokens=16))
    assert (result.outcome, result.error_class, result.finish_reason) == (
        Outcome.TRUNCATED,
        "max_tokens",
        "max_tokens",
    )
    assert result.text and result.usage.output_tokens == 16


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_call_hang_times_out_as_transient(simulator: Any, stream: bool) -> None:
    """A server that never answers is a TRANSIENT timeout once the read timeout passes."""
    client = _client(simulator.base_url, timeout_s=0.3)
    try:
        result = await client.call(_request("hang", stream=stream))
    finally:
        await client.aclose()
    _assert_failure(result, Outcome.TRANSIENT, "timeout", ANY)


async def test_call_connection_refused_is_transient() -> None:
    """Nothing listening on the port: TRANSIENT connection_error, not an exception."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = _client(f"http://127.0.0.1:{port}")
    try:
        result = await client.call(_request())
    finally:
        await client.aclose()
    _assert_failure(result, Outcome.TRANSIENT, "connection_error", None)


async def test_call_output_cap_is_configurable(simulator: Any) -> None:
    """A small cap turns an ordinary answer into output_too_large."""
    client = _client(simulator.base_url, max_output_bytes=8)
    try:
        result = await client.call(_request())
    finally:
        await client.aclose()
    _assert_failure(result, Outcome.BAD_REQUEST, "output_too_large", 200)


# -- counted markers, global faults, real limits -----------------------------------


async def test_call_counted_marker_fails_k_times_then_succeeds(
    claude: AnthropicClaudeClient,
) -> None:
    """[[sim:error500*2]]: two TRANSIENT attempts, then SUCCESS for the same prompt."""
    outcomes = [(await claude.call(_request("error500*2"))).outcome for _ in range(3)]
    assert outcomes == [Outcome.TRANSIENT, Outcome.TRANSIENT, Outcome.SUCCESS]


async def test_call_global_fault_applies_until_cleared(
    simulator: Any, claude: AnthropicClaudeClient
) -> None:
    """POST /admin/faults makes every call overloaded; DELETE restores success."""
    await _admin(simulator.base_url, "POST", "/admin/faults", {"mode": "overloaded", "rate": 1})
    assert (await claude.call(_request())).outcome is Outcome.OVERLOADED
    await _admin(simulator.base_url, "DELETE", "/admin/faults")
    assert (await claude.call(_request())).outcome is Outcome.SUCCESS


async def test_call_over_the_rpm_limit_is_rate_limited_with_headers(
    simulator: Any, claude: AnthropicClaudeClient
) -> None:
    """A real (bucket) 429 carries retry-after and the anthropic-ratelimit-* headers."""
    await _admin(simulator.base_url, "POST", "/admin/limits", {"rpm": 1})
    first = await claude.call(_request())
    second = await claude.call(_request())
    assert first.outcome is Outcome.SUCCESS
    assert first.headers.get("anthropic-ratelimit-requests-limit") == "1"
    _assert_failure(second, Outcome.RATE_LIMITED, "rate_limit_error", 429)
    assert second.retry_after_s is not None and second.retry_after_s > 0
    assert "anthropic-ratelimit-requests-remaining" in second.headers


async def test_call_beyond_the_server_concurrency_cap_is_overloaded(
    simulator: Any, claude: AnthropicClaudeClient
) -> None:
    """The server's concurrency cap answers 529: one call succeeds, the other is OVERLOADED."""
    await _admin(
        simulator.base_url, "POST", "/admin/limits", {"max_concurrency": 1, "latency": 1.0}
    )
    results = await asyncio.gather(claude.call(_request()), claude.call(_request()))
    by_outcome = {r.outcome: r for r in results}
    assert set(by_outcome) == {Outcome.SUCCESS, Outcome.OVERLOADED}
    _assert_failure(by_outcome[Outcome.OVERLOADED], Outcome.OVERLOADED, "overloaded_error", 529)


async def test_call_pool_serves_more_calls_than_connections(simulator: Any) -> None:
    """Twelve concurrent calls through a pool of two all succeed, never more than two open."""
    client = _client(simulator.base_url, pool_size=2)
    try:
        results = await asyncio.gather(*(client.call(_request()) for _ in range(12)))
    finally:
        await client.aclose()
    assert [r.outcome for r in results] == [Outcome.SUCCESS] * 12
    assert 1 <= simulator.stats()["highest_concurrency"] <= 2


# -- count_tokens --------------------------------------------------------------------


async def test_count_tokens_returns_the_api_count(claude: AnthropicClaudeClient) -> None:
    """count_tokens asks /v1/messages/count_tokens and agrees with the call's usage."""
    counted = await claude.count_tokens(_request())
    result = await claude.call(_request())
    assert counted > 0 and counted == result.usage.input_tokens


async def test_count_tokens_failure_raises_call_failed_with_the_outcome(
    claude: AnthropicClaudeClient,
) -> None:
    """A failed count raises CallFailed carrying the classified result."""
    with pytest.raises(CallFailed) as caught:
        await claude.count_tokens(_request(model="gpt-4o"))
    _assert_failure(caught.value.result, Outcome.CONFIG, "not_found_error", 404)


async def test_dated_snapshot_of_deprecated_model_is_logged_once_by_our_table(
    claude: AnthropicClaudeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The lifecycle table is ours: a snapshot name matches its alias; a current model is quiet."""
    with caplog.at_level(logging.WARNING, logger="stream.claude"):
        await claude.call(_request(model="claude-3-7-sonnet-20250219"))
        await claude.call(_request(model="claude-3-7-sonnet-20250219"))
        await claude.call(_request(model="claude-sonnet-4-6"))
    lines = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert lines == [
        "model claude-3-7-sonnet-20250219 is deprecated and reaches end-of-life on 2026-02-19"
    ]
