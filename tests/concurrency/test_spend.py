"""The spend budget: calls wait for USD like for rate-limit budget, and settle to the bill."""

from __future__ import annotations

import asyncio

import pytest

from stream.concurrency import ManualClock, SpendBudget


async def _settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reservation_over_the_budget_waits_for_the_refill() -> None:
    """$1/hour: $0.6 goes at once; another $0.6 waits until $0.2 more has refilled (720 s)."""
    clock = ManualClock()
    budget = SpendBudget(clock, {"hour": 1.0, "day": None})
    await budget.reserve(0.6)
    second = asyncio.ensure_future(budget.reserve(0.6))
    await _settled()
    assert not second.done() and budget.blocked_on == "spend budget per hour"
    await clock.run_for(700)
    assert not second.done()
    await clock.run_for(21)
    await asyncio.wait_for(second, 1)
    assert budget.remaining()["hour"][0] == pytest.approx(1 / 3600, abs=1e-6)  # 1 s spare


async def test_settling_refunds_the_unspent_estimate() -> None:
    """An estimate of $0.6 that cost $0.1 leaves $0.9: a $0.8 call then goes at once."""
    clock = ManualClock()
    budget = SpendBudget(clock, {"hour": 1.0})
    hold = await budget.reserve(0.6)
    budget.settle(hold, 0.1)
    await asyncio.wait_for(budget.reserve(0.8), 1)
    assert budget.remaining()["hour"][0] == pytest.approx(0.1)


async def test_day_budget_binds_when_it_is_the_smaller_rate() -> None:
    """$24/day is $1/hour of refill: after the day bucket is empty, calls pace at it."""
    clock = ManualClock()
    budget = SpendBudget(clock, {"hour": 100.0, "day": 24.0})
    await budget.reserve(24.0)
    waiting = asyncio.ensure_future(budget.reserve(1.0))
    await _settled()
    assert budget.blocked_on == "spend budget per day"
    await clock.run_for(3601)
    await asyncio.wait_for(waiting, 1)


async def test_no_budget_never_waits() -> None:
    """Without limits.budget_usd_* nothing is metered."""
    budget = SpendBudget(ManualClock(), {"hour": None, "day": None})
    assert not budget.active
    await asyncio.wait_for(budget.reserve(1e9), 1)
