"""The official SDK against the simulator over real HTTP: answers, streams, token counts."""

from __future__ import annotations

import json

import anthropic
import pytest

from stream.simulator import SimulatorServer
from stream.simulator.text import MARK
from tests.simulator.helpers import MODEL, ask

pytestmark = pytest.mark.timeout(30)


async def test_create_returns_marked_message_with_usage_and_request_id(
    client: anthropic.AsyncAnthropic,
) -> None:
    """A plain call parses as a Message: id, model, text, end_turn, usage, request-id."""
    raw = await client.messages.with_raw_response.create(**ask("Summarise: Kafka is a log."))
    message = await raw.parse()
    assert message.id.startswith("msg_sim_") and message.type == "message"
    assert message.role == "assistant" and message.model == MODEL
    assert message.content[0].type == "text" and message.content[0].text.startswith(MARK)
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens == 7  # ceil(26 chars / 4)
    assert 20 <= message.usage.output_tokens <= 200
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0
    assert raw.headers["request-id"].startswith("req_sim_")
    assert message._request_id == raw.headers["request-id"]
    assert raw.headers["content-type"] == "application/json"


async def test_create_carries_every_rate_limit_header_when_limits_are_set(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    """With rpm/itpm/otpm set, a 200 carries limit/remaining/reset for each and for tokens."""
    simulator.configure(rpm=100, itpm=50_000, otpm=20_000)
    raw = await client.messages.with_raw_response.create(**ask("hello", max_tokens=300))
    message = await raw.parse()
    h = raw.headers
    assert h["anthropic-ratelimit-requests-limit"] == "100"
    assert h["anthropic-ratelimit-requests-remaining"] == "99"
    assert h["anthropic-ratelimit-input-tokens-limit"] == "50000"
    assert int(h["anthropic-ratelimit-input-tokens-remaining"]) == 50_000 - 2
    assert h["anthropic-ratelimit-output-tokens-limit"] == "20000"
    assert int(h["anthropic-ratelimit-output-tokens-remaining"]) == 20_000 - 300
    assert h["anthropic-ratelimit-tokens-limit"] == "20000"
    for name in ("requests", "input-tokens", "output-tokens", "tokens"):
        assert h[f"anthropic-ratelimit-{name}-reset"].endswith("Z")
    assert message.usage.output_tokens <= 300


async def test_stream_true_sends_the_api_event_sequence_with_the_same_answer(
    client: anthropic.AsyncAnthropic,
) -> None:
    """stream=true yields the real event order, and the same text/usage as a plain call."""
    plain = await client.messages.create(**ask("stream this document"))
    events = [
        e async for e in await client.messages.create(**ask("stream this document"), stream=True)
    ]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")  # type: ignore[union-attr]
    assert text == plain.content[0].text  # type: ignore[union-attr]
    start, delta = events[0], events[-2]
    assert start.message.usage.input_tokens == plain.usage.input_tokens  # type: ignore[union-attr]
    assert delta.delta.stop_reason == "end_turn"  # type: ignore[union-attr]
    assert delta.usage.output_tokens == plain.usage.output_tokens  # type: ignore[union-attr]


async def test_stream_helper_accumulates_final_message(client: anthropic.AsyncAnthropic) -> None:
    """The SDK's messages.stream() helper builds the final Message from our events."""
    async with client.messages.stream(**ask("helper")) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text.startswith(MARK)  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


async def test_json_system_prompt_returns_parseable_json(client: anthropic.AsyncAnthropic) -> None:
    """A system prompt mentioning JSON gets a JSON object the pipeline can parse."""
    message = await client.messages.create(**ask("label it", system="Reply with JSON."))
    data = json.loads(message.content[0].text)  # type: ignore[union-attr]
    assert data["simulated"] is True and data["summary"].startswith(MARK)


async def test_count_tokens_equals_usage_input_tokens(client: anthropic.AsyncAnthropic) -> None:
    """count_tokens and usage.input_tokens agree (system + all messages + blocks)."""
    kwargs = {
        "model": MODEL,
        "system": "You are a careful summariser of operations documents.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "First part of the doc."}]},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "Second part, longer: " + "words " * 40},
        ],
    }
    counted = await client.messages.count_tokens(**kwargs)  # type: ignore[arg-type]
    message = await client.messages.create(max_tokens=64, **kwargs)  # type: ignore[arg-type]
    assert counted.input_tokens == message.usage.input_tokens
    chars = len(kwargs["system"]) + len("First part of the doc.") + len("Noted.") + 21 + 240  # type: ignore[arg-type]
    assert counted.input_tokens == -(-chars // 4)


async def test_model_not_starting_with_claude_is_404_naming_the_model(
    client: anthropic.AsyncAnthropic,
) -> None:
    """Any model name outside claude-* is not_found_error "model: X"."""
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.messages.create(**{**ask("hi"), "model": "gpt-4o"})
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: gpt-4o"}  # type: ignore[index]
    assert caught.value.request_id and caught.value.request_id.startswith("req_sim_")


async def test_malformed_request_is_400_invalid_request_error(
    client: anthropic.AsyncAnthropic,
) -> None:
    """Empty messages and a zero max_tokens are refused as the API refuses them."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model=MODEL, max_tokens=10, messages=[])
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.create(**ask("hi", max_tokens=0))


async def test_latency_and_jitter_delay_delivery_without_changing_the_answer(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    """With latency, jitter and per-token pacing on, plain and streamed answers (sent by
    timers, deltas spread out) still match the zero-latency answer exactly."""
    instant = await client.messages.create(**ask("paced document"))
    simulator.configure(latency=0.02, per_token_latency=0.0002, jitter=0.5)
    paced = await client.messages.create(**ask("paced document"))
    async with client.messages.stream(**ask("paced document")) as stream:
        streamed = await stream.get_final_message()
    texts = {m.content[0].text for m in (instant, paced, streamed)}  # type: ignore[union-attr]
    assert len(texts) == 1
    assert paced.usage.output_tokens == streamed.usage.output_tokens
    assert simulator.stats()["inflight"] == 0
