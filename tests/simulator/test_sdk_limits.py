"""Rate limits (429 + retry-after) and the concurrency cap (529) as the SDK sees them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anthropic
import httpx2
import pytest

from stream.simulator import SimulatorServer
from tests.simulator.helpers import ManualClock, ask, sdk, until

pytestmark = pytest.mark.timeout(30)
Factory = Callable[..., Awaitable[SimulatorServer]]


async def test_rpm_exhausted_answers_429_with_retry_after_and_headers(
    simulator_factory: Factory,
) -> None:
    """rpm=2: the third request is a 429 rate_limit_error, retry-after 30 s, headers present;
    30 s later (injected clock) it succeeds."""
    clock = ManualClock()
    server = await simulator_factory(rpm=2, now=clock)
    async with sdk(server.base_url) as client:
        await client.messages.create(**ask("a"))
        await client.messages.create(**ask("b"))
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(**ask("c"))
        clock.advance(30)
        await client.messages.create(**ask("d"))
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "30"
    assert error.response.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert error.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert error.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "2 requests per minute" in error.body["error"]["message"]  # type: ignore[index]
    assert error.body["request_id"] == error.request_id  # type: ignore[index]
    assert server.stats()["status_counts"] == {"200": 3, "429": 1}


async def test_itpm_exhausted_answers_429_naming_input_tokens(simulator_factory: Factory) -> None:
    """itpm=100 and a 75-token prompt: the second call waits ceil(50 / (100/60)) = 30 s."""
    server = await simulator_factory(itpm=100, now=ManualClock())
    async with sdk(server.base_url) as client:
        await client.messages.create(**ask("x" * 300))
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(**ask("y" * 300))
    assert caught.value.response.headers["retry-after"] == "30"
    assert "input tokens per minute" in caught.value.body["error"]["message"]  # type: ignore[index]


async def test_otpm_reserves_max_tokens_then_corrects_to_actual_output(
    simulator_factory: Factory,
) -> None:
    """otpm=1000, max_tokens=800: remaining drops by 800 at admission and the unused part
    comes back when the answer ends (so the next call is still admitted)."""
    server = await simulator_factory(otpm=1000, now=ManualClock())
    async with sdk(server.base_url) as client:
        first = await client.messages.with_raw_response.create(**ask("one", max_tokens=800))
        used = (await first.parse()).usage.output_tokens
        second = await client.messages.with_raw_response.create(**ask("two", max_tokens=800))
    assert first.headers["anthropic-ratelimit-output-tokens-remaining"] == "200"
    remaining = int(second.headers["anthropic-ratelimit-output-tokens-remaining"])
    assert remaining == 1000 - used - 800


async def test_concurrency_cap_answers_529_overloaded_beyond_the_cap(
    simulator_factory: Factory,
) -> None:
    """max_concurrency=2 with two calls held in flight: the third is 529 overloaded_error;
    once they are gone a new call succeeds."""
    server = await simulator_factory(max_concurrency=2)
    async with sdk(server.base_url) as client:
        held = [
            asyncio.create_task(client.messages.create(**ask(f"hold {i} [[sim:hang]]")))
            for i in range(2)
        ]
        await until(lambda: server.stats()["inflight"] == 2)
        with pytest.raises(anthropic.OverloadedError) as caught:
            await client.messages.create(**ask("third"))
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        await until(lambda: server.stats()["inflight"] == 0)
        assert (await client.messages.create(**ask("fourth"))).stop_reason == "end_turn"
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert server.stats()["highest_concurrency"] == 2


async def test_admin_limits_change_live_and_null_removes_a_limit(
    simulator: SimulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    """POST /admin/limits {"rpm": 1} limits at once; {"rpm": null} lifts it."""
    async with httpx2.AsyncClient(base_url=simulator.base_url) as http:
        response = await http.post("/admin/limits", json={"rpm": 1})
        assert response.status_code == 200 and response.json()["limits"]["rpm"] == 1
        await client.messages.create(**ask("first"))
        with pytest.raises(anthropic.RateLimitError):
            await client.messages.create(**ask("second"))
        await http.post("/admin/limits", json={"rpm": None})
    assert (await client.messages.create(**ask("third"))).stop_reason == "end_turn"
