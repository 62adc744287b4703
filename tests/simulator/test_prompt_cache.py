"""The simulator's prompt cache as the SDK sees it: writes, reads, TTLs, minimums, ITPM."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import pytest

from stream.simulator import SimulatorServer
from tests.simulator.helpers import ManualClock, sdk

pytestmark = pytest.mark.timeout(30)
Factory = Callable[..., Awaitable[SimulatorServer]]

SONNET = "claude-sonnet-4-5"  # minimum cacheable prefix: 1,024 tokens
SYSTEM = "s" * 400  # 100 tokens
DOCUMENT = "d" * 8000  # 2,000 tokens: system + document = 2,100 tokens


def staged(instruction: str, *, ttl: str | None = "5m", model: str = SONNET) -> dict[str, Any]:
    """System, then the document block (a breakpoint unless ttl is None), then a stage's
    own instruction: the layout docstream sends."""
    control = {} if ttl is None else {"cache_control": {"type": "ephemeral", "ttl": ttl}}
    return {
        "model": model,
        "max_tokens": 64,
        "system": SYSTEM,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": DOCUMENT, **control},
                    {"type": "text", "text": instruction},
                ],
            }
        ],
    }


def split(usage: Any) -> tuple[int, int, int, int, int]:
    """(input, cache read, cache creation, of which 5m, of which 1h)."""
    creation = usage.cache_creation
    return (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
        creation.ephemeral_5m_input_tokens,
        creation.ephemeral_1h_input_tokens,
    )


async def test_first_call_writes_the_prefix_and_the_next_stage_reads_it(
    simulator_factory: Factory,
) -> None:
    """Same prefix, different stage instruction: 2,100 tokens written (5m), then read."""
    server = await simulator_factory(now=ManualClock())
    async with sdk(server.base_url) as client:
        first = await client.messages.create(**staged("Summarise it." * 4))  # 52 chars
        second = await client.messages.create(**staged("List anomalies." * 4))  # 60 chars
    assert split(first.usage) == (13, 0, 2100, 2100, 0)
    assert split(second.usage) == (15, 2100, 0, 0, 0)
    stats = server.stats()
    assert (stats["cache_read_input_tokens"], stats["cache_creation_input_tokens"]) == (2100, 2100)


async def test_a_different_prefix_misses(simulator_factory: Factory) -> None:
    """One character of difference before the breakpoint is another cache entry."""
    server = await simulator_factory(now=ManualClock())
    async with sdk(server.base_url) as client:
        await client.messages.create(**staged("a"))
        other = staged("a")
        other["system"] = SYSTEM + "!"
        missed = await client.messages.create(**other)
    assert split(missed.usage)[1:3] == (0, 2101)


async def test_5m_entry_expires_after_five_minutes_and_a_read_refreshes_it(
    simulator_factory: Factory,
) -> None:
    """Read at 4 min refreshes the entry; 4 more minutes still hit; 5 idle minutes miss."""
    clock = ManualClock()
    server = await simulator_factory(now=clock)
    async with sdk(server.base_url) as client:
        await client.messages.create(**staged("a"))
        clock.advance(240)
        assert split((await client.messages.create(**staged("b"))).usage)[1] == 2100
        clock.advance(240)
        assert split((await client.messages.create(**staged("c"))).usage)[1] == 2100
        clock.advance(301)
        expired = await client.messages.create(**staged("d"))
    assert split(expired.usage)[1:4] == (0, 2100, 2100)


async def test_1h_entry_outlives_five_minutes_and_is_billed_as_1h(
    simulator_factory: Factory,
) -> None:
    """A 1h write is reported in ephemeral_1h_input_tokens and still hits after 30 min."""
    clock = ManualClock()
    server = await simulator_factory(now=clock)
    async with sdk(server.base_url) as client:
        written = await client.messages.create(**staged("a", ttl="1h"))
        clock.advance(1800)
        read = await client.messages.create(**staged("b", ttl="1h"))
        clock.advance(3601)
        expired = await client.messages.create(**staged("c", ttl="1h"))
    assert split(written.usage)[2:] == (2100, 0, 2100)
    assert split(read.usage)[1] == 2100
    assert split(expired.usage)[1:3] == (0, 2100)


async def test_prefix_below_the_model_minimum_is_not_cached(simulator_factory: Factory) -> None:
    """Haiku 4.5 caches from 4,096 tokens: a 2,100-token prefix is plain input, twice."""
    server = await simulator_factory(now=ManualClock())
    async with sdk(server.base_url) as client:
        calls = [await client.messages.create(**staged(x, model="claude-haiku-4-5")) for x in "ab"]
    assert [split(c.usage)[1:3] for c in calls] == [(0, 0), (0, 0)]
    assert calls[1].usage.input_tokens == 2101


async def test_cached_reads_do_not_count_against_input_tokens_per_minute(
    simulator_factory: Factory,
) -> None:
    """itpm=3,000: after a 2,101-token write only 899 are left, yet a cache-reading call is
    admitted (it costs 1 uncached token); the same call without the breakpoint gets a 429."""
    server = await simulator_factory(itpm=3000, now=ManualClock())
    async with sdk(server.base_url) as client:
        await client.messages.create(**staged("a"))
        read = await client.messages.create(**staged("b"))
        with pytest.raises(anthropic.RateLimitError):
            await client.messages.create(**staged("c", ttl=None))
    assert split(read.usage)[:2] == (1, 2100)


async def test_requests_arriving_together_all_miss_until_the_first_answer_starts(
    simulator_factory: Factory,
) -> None:
    """An entry is readable once the answer that wrote it has started: two concurrent
    stages both write; a third after the first byte reads."""
    clock = ManualClock()
    server = await simulator_factory(now=clock, base_latency_s=0.05)
    async with sdk(server.base_url) as client:
        together = await asyncio.gather(
            client.messages.create(**staged("a")), client.messages.create(**staged("b"))
        )
        clock.advance(1)
        after = await client.messages.create(**staged("c"))
    assert [split(c.usage)[1:3] for c in together] == [(0, 2100), (0, 2100)]
    assert split(after.usage)[1] == 2100


async def test_answer_text_does_not_depend_on_cache_control(simulator_factory: Factory) -> None:
    """Caching changes the bill, never the answer: same content, same text."""
    server = await simulator_factory(now=ManualClock())
    async with sdk(server.base_url) as client:
        plain = await client.messages.create(**staged("a", ttl=None))
        cached = await client.messages.create(**staged("a"))
        reread = await client.messages.create(**staged("a"))
    texts = {m.content[0].text for m in (plain, cached, reread)}  # type: ignore[union-attr]
    assert len(texts) == 1


async def test_more_than_four_breakpoints_is_a_400(simulator_factory: Factory) -> None:
    """The API allows at most four cache_control blocks per request."""
    server = await simulator_factory(now=ManualClock())
    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    async with sdk(server.base_url) as client:
        with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
            await client.messages.create(
                model=SONNET, max_tokens=8, messages=[{"role": "user", "content": [block] * 5}]
            )
