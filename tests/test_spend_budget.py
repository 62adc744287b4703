"""The spend budget slows calls to the simulator before the budget is spent, and the
metrics show spend against budget."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from stream.claude.client import AnthropicClaudeClient
from stream.claude.types import CallRequest
from stream.concurrency import ManualClock
from stream.config import load_settings
from stream.telemetry.metrics import Metrics
from stream.telemetry.setup import InMemoryTelemetry, install_in_memory
from stream.worker import build_caller

pytestmark = pytest.mark.timeout(60)
Factory = Callable[..., Awaitable[Any]]


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):  # waiting on real sockets, not measuring time
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_calls_wait_for_the_spend_budget_and_metrics_show_it(
    simulator_factory: Factory,
) -> None:
    """$0.01/hour and calls estimated at $0.0045 (1,000 input tokens, 100 max output on
    Sonnet): the first calls go, then one waits on the budget with the clock stopped; as
    the clock runs, the rest follow, and the gauge reports what is left."""
    server = await simulator_factory()
    settings = load_settings(overrides={"limits.budget_usd_per_hour": 0.01})
    clock = ManualClock()
    client = AnthropicClaudeClient(api_key="sk-sim", base_url=server.base_url, pool_size=8)
    with install_in_memory() as otel:
        metrics = Metrics()
        caller = build_caller(settings, client, clock, metrics)
        request = CallRequest("claude-sonnet-4-5", "Summarise.", "x" * 4000, 100)
        calls = [asyncio.ensure_future(caller.call(request)) for _ in range(6)]
        try:
            # The admitted calls are still on the wire when the next one blocks: wait
            # for one of them to come back; the blocked ones cannot move on a stopped clock.
            await _until(
                lambda: (
                    caller.spend.blocked_on == "spend budget per hour"
                    and any(c.done() for c in calls)
                )
            )
            went_at_once = sum(c.done() for c in calls)
            assert 1 <= went_at_once < 6
            for _ in range(200):
                if all(c.done() for c in calls):
                    break
                await clock.run_for(60)
                await asyncio.sleep(0.01)
            assert all(c.done() for c in calls)
        finally:
            for c in calls:
                c.cancel()
            await client.aclose()
        _assert_budget_metrics(otel)
    spent = metrics.totals().cost_usd
    refilled = 0.01 * clock.now() / 3600
    assert spent <= 0.01 + refilled + 0.0045


def _assert_budget_metrics(otel: InMemoryTelemetry) -> None:
    got = otel.metrics()
    budget = got["docstream.spend.budget"].point(docstream__budget__window="hour")
    left = got["docstream.spend.budget.remaining"].point(docstream__budget__window="hour")
    assert budget.value == pytest.approx(0.01)
    assert left.value < 0.01
