"""The ramp's pieces with literal numbers: the blind allowance on the injected clock,
what the headers leave room for, and the limits' raise_to and first-drop cap."""

from __future__ import annotations

import asyncio

import pytest

from stream.concurrency import (
    AIMDLimit,
    FixedLimit,
    HeadroomPacer,
    Limiter,
    ManualClock,
    TokenLatencyLimit,
)
from tests.concurrency.helpers import settle


async def test_blind_allowance_doubles_with_the_clock_until_the_first_answer() -> None:
    """4 at once, 8 by 50 ms, 16 by 100 ms, never above blind_max; an answer ends it."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, blind_reservations=4, blind_doubling_s=0.05, blind_max=20)
    tasks = [asyncio.create_task(pacer.reserve(10, 10)) for _ in range(40)]
    await settle()
    assert sum(t.done() for t in tasks) == 4
    await clock.run_for(0.05, rounds=200)
    assert sum(t.done() for t in tasks) == 8
    await clock.run_for(0.05, rounds=200)
    assert sum(t.done() for t in tasks) == 16
    await clock.run_for(1.0, rounds=200)
    assert sum(t.done() for t in tasks) == 20 and pacer.ramping
    pacer.reconcile(tasks[0].result(), 10, 5)  # an answer without headers: no budget known
    await settle(200)
    assert all(t.done() for t in tasks) and not pacer.ramping


async def test_room_is_the_advertised_remaining_less_the_margin_and_what_is_held() -> None:
    clock = ManualClock()
    pacer = HeadroomPacer(clock, request_margin=1.0, send_skew_s=0.0)
    assert pacer.room(10, 10) is None  # nothing advertised yet
    first = await pacer.reserve(10, 10)
    pacer.mark_sent(first)
    later = [await pacer.reserve(10, 10) for _ in range(5)]
    pacer.observe_headers(
        {
            "anthropic-ratelimit-requests-limit": "600",
            "anthropic-ratelimit-requests-remaining": "40",
        },
        first,
    )
    assert len(later) == 5 and pacer.room(10, 10) == 40 - 5 - 1


async def test_headers_of_an_old_call_count_the_refill_and_every_call_sent_since() -> None:
    """Remaining 0 when a call went out 1 s ago at 10/s: 10 refilled since, minus the 3
    calls sent after it (one of them already answered, out of order)."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, request_margin=0.0)
    old = await pacer.reserve(1, 1)
    pacer.mark_sent(old)
    await clock.run_for(0.5)
    newer = [await pacer.reserve(1, 1) for _ in range(3)]
    for r in newer:
        pacer.mark_sent(r)
    pacer.reconcile(newer[0], 1, 1)
    await clock.run_for(0.5)
    pacer.observe_headers(
        {
            "anthropic-ratelimit-requests-limit": "600",
            "anthropic-ratelimit-requests-remaining": "0",
        },
        old,
    )
    bucket = pacer.bucket("requests")
    assert bucket is not None and bucket.level == pytest.approx(10 - 3)


def test_raise_to_lifts_adaptive_limits_within_bounds_and_leaves_a_fixed_one() -> None:
    assert AIMDLimit(initial=16, max_limit=256).raise_to(300) == 256
    assert AIMDLimit(initial=16, max_limit=256).raise_to(10) == 16
    assert TokenLatencyLimit(initial=16, max_limit=100).raise_to(80) == 80
    assert FixedLimit(8).raise_to(100) == 8


def test_first_drop_cuts_to_the_calls_in_flight_before_the_refused_one() -> None:
    """Ramped to 256, the 65th call is refused: the cap is 64, not 230. The next drop
    cuts by the ratio again."""
    for limit in (
        AIMDLimit(initial=16, max_limit=256, learn_cap=True),
        TokenLatencyLimit(initial=16, max_limit=256, learn_cap=True),
    ):
        limit.raise_to(256)
        assert limit.on_sample(now=1.0, rtt=0.01, inflight=65, dropped=True) == 64
        assert limit.on_sample(now=3.0, rtt=0.01, inflight=65, dropped=True) == 57


def test_a_lone_refused_call_cuts_no_deeper_than_the_ratio_of_the_initial_limit() -> None:
    """One call in flight refused (a 529 is also global overload): 64 -> 57, not 1."""
    limit = AIMDLimit(initial=64, max_limit=256, learn_cap=True)
    assert limit.on_sample(now=1.0, rtt=0.5, inflight=1, dropped=True) == 57


async def test_limiter_raise_to_wakes_the_waiters_it_makes_room_for() -> None:
    clock = ManualClock()
    limiter = Limiter(AIMDLimit(initial=2, max_limit=10), clock)
    held = [await limiter.acquire() for _ in range(2)]
    waiting = [asyncio.create_task(limiter.acquire()) for _ in range(5)]
    await settle()
    assert not any(t.done() for t in waiting)
    assert limiter.raise_to(5) == 5
    await settle()
    assert sum(t.done() for t in waiting) == 3 and len(held) == 2
    for t in waiting:
        t.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


def _limit_headers(limit: int, remaining: int) -> dict[str, str]:
    return {
        "anthropic-ratelimit-requests-limit": str(limit),
        "anthropic-ratelimit-requests-remaining": str(remaining),
    }


async def test_a_429_that_says_others_spend_the_account_stops_counting_on_the_refill() -> None:
    """A 429 in the blind ramp, or just after the advertised limit changed, is ours; a
    later one says someone else spends the account: then a header from a call sent 1 s
    ago is taken as it stands, not as 10 requests richer."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, request_margin=0.0, blind_reservations=1)
    blind = await pacer.reserve(1, 1)
    pacer.mark_sent(blind)
    pacer.refused(blind, rate_limited=True)
    pacer.observe_headers(_limit_headers(600, 5), blind)
    pacer.release(blind)
    assert not pacer.contended
    await clock.run_for(1.0)
    changed = await pacer.reserve(1, 1)
    pacer.mark_sent(changed)
    pacer.observe_headers(_limit_headers(300, 0), changed)  # the limit dropped
    pacer.refused(changed, rate_limited=True)
    assert not pacer.contended
    await clock.run_for(6.0)
    late = await pacer.reserve(1, 1)
    pacer.mark_sent(late)
    pacer.refused(late, rate_limited=True)
    assert pacer.contended
    old = await pacer.reserve(1, 1)
    pacer.mark_sent(old)
    await clock.run_for(1.0)
    pacer.observe_headers(_limit_headers(300, 3), old)
    bucket = pacer.bucket("requests")
    assert bucket is not None and bucket.level == pytest.approx(3)
    await clock.run_for(10.0)
    assert not pacer.contended
