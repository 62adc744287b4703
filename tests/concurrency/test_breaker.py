"""Circuit breaker: every transition, on a manual clock."""

from __future__ import annotations

import asyncio

import pytest

from stream.concurrency import BreakerState, CircuitBreaker, ManualClock
from tests.concurrency.helpers import settle

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def make(
    clock: ManualClock, **kwargs: float
) -> tuple[CircuitBreaker, list[tuple[BreakerState, BreakerState]]]:
    seen: list[tuple[BreakerState, BreakerState]] = []
    options: dict[str, float] = {
        "failure_threshold": 3,
        "error_rate": 0.5,
        "window_s": 60.0,
        "min_calls": 10,
        "open_s": 30.0,
    } | kwargs
    breaker = CircuitBreaker(
        clock,
        on_transition=[lambda old, new: seen.append((old, new))],
        **options,  # type: ignore[arg-type]
    )
    return breaker, seen


def test_breaker_opens_after_consecutive_failures() -> None:
    """Two failures keep it closed; the third opens it and allow() says no."""
    breaker, seen = make(ManualClock())
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is OPEN
    assert not breaker.allow()
    assert seen == [(CLOSED, OPEN)]


def test_breaker_success_resets_the_consecutive_count() -> None:
    """fail, fail, ok, fail, fail: still closed."""
    breaker, _ = make(ManualClock())
    for failed in (True, True, False, True, True):
        breaker.record_failure() if failed else breaker.record_success()
    assert breaker.state is CLOSED


def test_breaker_opens_when_the_error_rate_exceeds_the_limit() -> None:
    """5 of 10 failed (= 0.5) stays closed; the 11th call failing (6/11) opens it."""
    breaker, _ = make(ManualClock(), failure_threshold=100)
    for _ in range(5):
        breaker.record_success()
        breaker.record_failure()
    assert breaker.state is CLOSED
    breaker.record_failure()
    assert breaker.state is OPEN


def test_breaker_error_rate_needs_min_calls() -> None:
    """9 calls all failed but min_calls=10 (and threshold 100): closed."""
    breaker, _ = make(ManualClock(), failure_threshold=100)
    for _ in range(9):
        breaker.record_failure()
    assert breaker.state is CLOSED


def test_breaker_old_calls_leave_the_window() -> None:
    """5 of 10 failed, then 11 s pass: one more failure is 1 of 1 (too few), not 6 of 11."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=100, window_s=10.0)
    for _ in range(5):
        breaker.record_success()
        breaker.record_failure()
    assert breaker.state is CLOSED
    clock.advance(11)
    breaker.record_failure()
    assert breaker.state is CLOSED


def test_breaker_goes_half_open_after_open_s_and_allows_one_probe() -> None:
    """Open at 0; at 29.9 still open; at 30 half-open: one allow(), then no."""
    clock = ManualClock()
    breaker, seen = make(clock, failure_threshold=1)
    breaker.record_failure()
    clock.advance(29.9)
    assert breaker.state is OPEN
    assert breaker.reopens_at == 30.0
    clock.advance(0.1)
    assert breaker.allow()
    assert breaker.state is HALF_OPEN
    assert not breaker.allow()
    assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_breaker_probe_success_closes_and_resets_open_time() -> None:
    """A failed probe doubles open_s to 60; a later successful probe closes and resets 30."""
    clock = ManualClock()
    breaker, seen = make(clock, failure_threshold=1)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is OPEN and breaker.open_s == 60
    clock.advance(59)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CLOSED and breaker.open_s == 30
    assert seen == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


def test_breaker_open_time_doubling_is_capped() -> None:
    """Failed probes double 30 -> 60 -> 100 (max_open_s), never beyond."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1, max_open_s=100.0)
    breaker.record_failure()
    for expected in (60.0, 100.0, 100.0):
        clock.advance(breaker.open_s)
        assert breaker.allow()
        breaker.record_failure()
        assert breaker.open_s == expected


def test_breaker_unanswered_probe_expires() -> None:
    """A probe that never reports lets another probe through after probe_timeout_s."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1, probe_timeout_s=10.0)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    clock.advance(9.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_breaker_ignored_probe_frees_the_probe_slot() -> None:
    """record_ignored() in half-open lets the next caller probe at once."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    breaker.record_ignored()
    assert breaker.state is HALF_OPEN
    assert breaker.allow()


def test_breaker_results_while_open_do_not_change_it() -> None:
    """Late successes and failures of calls started before it opened are ignored."""
    clock = ManualClock()
    breaker, seen = make(clock, failure_threshold=1)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is OPEN and breaker.open_s == 30
    assert seen == [(CLOSED, OPEN)]


async def test_breaker_wait_until_allowed_sleeps_on_the_clock() -> None:
    """Waiter 1 becomes the probe at 30 s; waiter 2 waits for the probe, then goes."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1)
    assert await breaker.wait_until_allowed() == 0.0  # closed: no wait
    breaker.record_failure()
    first = asyncio.create_task(breaker.wait_until_allowed())
    await clock.run_for(29.9)
    assert not first.done()
    await clock.run_for(0.1)
    assert first.result() == 30.0
    second = asyncio.create_task(breaker.wait_until_allowed())
    await clock.run_for(5)
    assert not second.done()
    breaker.record_success()
    await settle()
    assert second.result() == 5.0


async def test_breaker_wait_while_open_does_not_take_the_probe() -> None:
    """wait_while_open returns at half-open and leaves the probe for a caller."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1)
    breaker.record_failure()
    task = asyncio.create_task(breaker.wait_while_open())
    await clock.run_for(30)
    assert task.done()
    assert breaker.allow()


def test_breaker_rejects_bad_parameters() -> None:
    """Zero thresholds and rates outside (0, 1] raise."""
    clock = ManualClock()
    for bad in ({"failure_threshold": 0}, {"error_rate": 0.0}, {"open_s": 0.0}):
        with pytest.raises(ValueError):
            CircuitBreaker(clock, **bad)


def test_breaker_does_not_count_failures_of_documents_that_failed_before() -> None:
    """Threshold 3: two fresh failures and any number of repeat failures stay closed;
    the third fresh failure opens it."""
    breaker, _ = make(ManualClock())
    breaker.record_failure()
    breaker.record_failure()
    for _ in range(10):
        breaker.record_failure(after_failure=True)
    assert breaker.state is CLOSED
    breaker.record_failure()
    assert breaker.state is OPEN


def test_breaker_a_repeat_failure_as_the_probe_still_reopens_it() -> None:
    """With nobody fresh waiting, a retry is the probe, and its failure counts."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow(after_failure=True)
    breaker.record_failure(after_failure=True)
    assert breaker.state is OPEN and breaker.open_s == 60


async def test_breaker_gives_the_probe_to_a_fresh_document_before_a_retry() -> None:
    """A retry waiting since the breaker opened, a fresh call waiting after it: at
    half-open the fresh one is the probe; the retry goes when the probe closes it."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1)
    breaker.record_failure()
    retry = asyncio.create_task(breaker.wait_until_allowed(after_failure=True))
    await clock.run_for(1)
    fresh = asyncio.create_task(breaker.wait_until_allowed())
    await clock.run_for(29)
    assert fresh.done() and not retry.done()
    breaker.record_success()
    await settle()
    assert retry.done() and breaker.state is CLOSED


async def test_breaker_a_cancelled_fresh_waiter_lets_a_retry_probe() -> None:
    """Half-open, the probe out; a fresh caller waits, then is cancelled, and the probe
    comes back: the retry takes it without waiting for probe_timeout_s."""
    clock = ManualClock()
    breaker, _ = make(clock, failure_threshold=1)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    fresh = asyncio.create_task(breaker.wait_until_allowed())
    retry = asyncio.create_task(breaker.wait_until_allowed(after_failure=True))
    await settle()
    fresh.cancel()
    await settle()
    breaker.record_ignored()
    await settle()
    assert retry.done()
