"""Every fault mode, by prompt marker and by the global admin switch, through the SDK."""

from __future__ import annotations

import json

import anthropic
import httpx2
import pytest

from stream.simulator import SimulatorServer
from stream.simulator.text import MARK
from tests.simulator.helpers import ask, until

pytestmark = pytest.mark.timeout(30)

_ERRORS = [
    ("prompt_too_long", anthropic.BadRequestError, 400, "invalid_request_error"),
    ("too_large", anthropic.ContentTooLargeError, 413, "request_too_large"),
    ("auth", anthropic.AuthenticationError, 401, "authentication_error"),
    ("forbidden", anthropic.PermissionDeniedError, 403, "permission_error"),
    ("unknown_model", anthropic.NotFoundError, 404, "not_found_error"),
    ("spend_cap", anthropic.EnforcedSpendLimitReachedError, 429, "rate_limit_error"),
    ("rate_limit", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("overloaded", anthropic.OverloadedError, 529, "overloaded_error"),
    ("error500", anthropic.InternalServerError, 500, "api_error"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("mode", "error", "status", "kind"), _ERRORS)
async def test_error_marker_answers_the_api_error(
    client: anthropic.AsyncAnthropic,
    mode: str,
    error: type[anthropic.APIStatusError],
    status: int,
    kind: str,
    stream: bool,
) -> None:
    """[[sim:MODE]] gives the status, error type and SDK exception the real API would."""
    with pytest.raises(error) as caught:
        await client.messages.create(**ask(f"doc [[sim:{mode}]]"), stream=stream)
    exc = caught.value
    assert exc.status_code == status
    assert exc.body["type"] == "error" and exc.body["error"]["type"] == kind  # type: ignore[index]
    assert exc.body["request_id"] == exc.request_id  # type: ignore[index]
    retry_after = exc.response.headers.get("retry-after")
    assert (retry_after is not None) == (mode == "rate_limit")


async def test_error_texts_name_the_detail_clients_classify_on(
    client: anthropic.AsyncAnthropic,
) -> None:
    """prompt_too_long says N > 200000; spend_cap carries enforced_spend_limit_reached."""
    with pytest.raises(anthropic.BadRequestError) as too_long:
        await client.messages.create(**ask("[[sim:prompt_too_long]]"))
    assert too_long.value.body["error"]["message"].startswith("prompt is too long: ")  # type: ignore[index]
    assert "tokens > 200000 maximum" in too_long.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(anthropic.RateLimitError) as spend:
        await client.messages.create(**ask("[[sim:spend_cap]]"))
    assert spend.value.body["error"]["details"] == {  # type: ignore[index]
        "error_code": "enforced_spend_limit_reached"
    }


@pytest.mark.parametrize("mode", [m for m, *_ in _ERRORS])
async def test_global_fault_from_admin_endpoint_hits_unmarked_requests(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic, mode: str
) -> None:
    """POST /admin/faults {"mode": M} fails plain requests with M; DELETE restores success."""
    expected = {m: status for m, _, status, _ in _ERRORS}[mode]
    async with httpx2.AsyncClient(base_url=simulator.base_url) as http:
        assert (await http.post("/admin/faults", json={"mode": mode})).status_code == 200
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(**ask("plain document"))
        assert (await http.delete("/admin/faults")).status_code == 200
    assert caught.value.status_code == expected
    assert (await client.messages.create(**ask("plain document"))).stop_reason == "end_turn"


async def test_counted_marker_fails_twice_then_succeeds(client: anthropic.AsyncAnthropic) -> None:
    """[[sim:overloaded*2]]: 529, 529, then an answer for the same prompt."""
    request = ask("retry me [[sim:overloaded*2]]")
    for _ in range(2):
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(**request)
    assert (await client.messages.create(**request)).stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_hang_never_answers_so_the_client_times_out(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic, stream: bool
) -> None:
    """[[sim:hang]] sends nothing: the SDK raises APITimeoutError; the slot is then freed."""
    with pytest.raises(anthropic.APITimeoutError):
        await client.with_options(timeout=0.3).messages.create(**ask("[[sim:hang]]"), stream=stream)
    await until(lambda: simulator.stats()["inflight"] == 0)
    assert simulator.stats()["dropped"] == 1


async def test_reset_cuts_the_body_and_the_sdk_raises_a_connection_error(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    """[[sim:reset]] sends headers and half the body, then closes: APIConnectionError."""
    with pytest.raises(anthropic.APIConnectionError):
        await client.messages.create(**ask("[[sim:reset]]"))
    assert simulator.stats()["dropped"] == 1


async def test_reset_mid_stream_surfaces_as_a_protocol_error_while_iterating(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    """stream=true: the 200 and the first events arrive, then the SDK's iterator raises the
    transport's RemoteProtocolError (the SDK does not wrap errors after the headers)."""
    seen: list[str] = []
    response = await client.messages.create(**ask("[[sim:reset]]"), stream=True)
    with pytest.raises(httpx2.RemoteProtocolError):
        async for event in response:
            seen.append(event.type)
    assert seen[:2] == ["message_start", "content_block_start"]
    assert "message_stop" not in seen
    assert simulator.stats()["dropped"] == 1


async def test_overloaded_stream_sends_error_event_inside_a_200_stream(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    """stream=true: HTTP 200, message_start, then event: error overloaded_error."""
    seen: list[str] = []
    response = await client.messages.create(**ask("[[sim:overloaded_stream]]"), stream=True)
    with pytest.raises(anthropic.APIStatusError) as caught:
        async for event in response:
            seen.append(event.type)
    assert seen == ["message_start"]
    assert caught.value.status_code == 200
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert simulator.stats()["stream_errors"] == 1


async def test_overloaded_stream_without_streaming_is_a_529(
    client: anthropic.AsyncAnthropic,
) -> None:
    """The same marker on a non-streaming call is a plain 529."""
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(**ask("[[sim:overloaded_stream]]"))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_refusal_is_a_200_with_stop_reason_refusal(
    client: anthropic.AsyncAnthropic, stream: bool
) -> None:
    """[[sim:refusal]] answers 200 with stop_reason refusal (and refusal stop_details)."""
    if stream:
        async with client.messages.stream(**ask("[[sim:refusal]]")) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**ask("[[sim:refusal]]"))
    assert message.stop_reason == "refusal"
    assert message.stop_details is not None and message.stop_details.type == "refusal"


async def test_max_tokens_marker_truncates_at_max_tokens(client: anthropic.AsyncAnthropic) -> None:
    """[[sim:max_tokens]] always runs into max_tokens: output_tokens == max_tokens."""
    message = await client.messages.create(**ask("[[sim:max_tokens]]", max_tokens=16))
    assert (message.stop_reason, message.usage.output_tokens) == ("max_tokens", 16)
    assert message.content[0].text.startswith(MARK)  # type: ignore[union-attr]


async def test_oversized_marker_returns_about_two_megabytes(
    client: anthropic.AsyncAnthropic,
) -> None:
    """[[sim:oversized]] is a 200 whose text is ~2 MB (for output-size limits downstream)."""
    message = await client.messages.create(**ask("[[sim:oversized]]", max_tokens=64))
    assert len(message.content[0].text) >= 2_000_000  # type: ignore[union-attr]


async def test_badjson_marker_returns_text_that_is_not_json(
    client: anthropic.AsyncAnthropic,
) -> None:
    """[[sim:badjson]] with a JSON system prompt: the text fails json.loads."""
    message = await client.messages.create(**ask("[[sim:badjson]]", system="Reply in JSON."))
    with pytest.raises(json.JSONDecodeError):
        json.loads(message.content[0].text)  # type: ignore[union-attr]


async def test_unknown_marker_is_a_400_naming_it(client: anthropic.AsyncAnthropic) -> None:
    """A misspelt marker fails loudly instead of silently succeeding."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(**ask("[[sim:overlaoded]]"))
    assert "overlaoded" in caught.value.body["error"]["message"]  # type: ignore[index]


async def test_admin_faults_rejects_unknown_mode_and_bad_rate(simulator: SimulatorServer) -> None:
    """The admin endpoint answers 400 for a mode or rate it cannot honour."""
    async with httpx2.AsyncClient(base_url=simulator.base_url) as http:
        assert (await http.post("/admin/faults", json={"mode": "nope"})).status_code == 400
        bad_rate = {"mode": "auth", "rate": 2}
        assert (await http.post("/admin/faults", json=bad_rate)).status_code == 400
    assert simulator.stats()["fault"] is None
