"""Token buckets and the header-synchronised pacer, on a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from stream.concurrency import HeadroomPacer, ManualClock, TokenBucket
from tests.concurrency.helpers import settle

EPOCH = 1_750_000_000.0  # wall-clock seconds at ManualClock time 0


def wall_for(clock: ManualClock) -> float:
    return EPOCH + clock.now()


def rfc3339(clock: ManualClock, seconds_ahead: float) -> str:
    when = datetime.fromtimestamp(wall_for(clock) + seconds_ahead, tz=UTC)
    return when.isoformat().replace("+00:00", "Z")


def headers(kind: str, limit: int, remaining: int, reset: str | None = None) -> dict[str, str]:
    found = {
        f"anthropic-ratelimit-{kind}-limit": str(limit),
        f"anthropic-ratelimit-{kind}-remaining": str(remaining),
    }
    if reset is not None:
        found[f"anthropic-ratelimit-{kind}-reset"] = reset
    return found


def make_pacer(clock: ManualClock, **kwargs: float) -> HeadroomPacer:
    """Margins exactly as given: no allowance for a late admission (``send_skew_s``)."""
    kwargs.setdefault("send_skew_s", 0.0)
    return HeadroomPacer(clock, wall=lambda: wall_for(clock), **kwargs)


# --- TokenBucket ----------------------------------------------------------------------


def test_token_bucket_refills_continuously_up_to_capacity() -> None:
    """Capacity 10, 2/s from 0: 2 after 1 s, 10 (not 20) after 10 s."""
    clock = ManualClock()
    bucket = TokenBucket(10, 2, clock, level=0)
    clock.advance(1)
    assert bucket.level == 2
    clock.advance(9)
    assert bucket.level == 10


def test_token_bucket_goes_into_debt_and_reports_the_wait() -> None:
    """Debit 15 of 10: level -5; 3 units need (3 + 5) / 2 = 4 s."""
    clock = ManualClock()
    bucket = TokenBucket(10, 2, clock)
    bucket.debit(15)
    assert bucket.level == -5
    assert bucket.time_until(3) == 4
    assert bucket.time_until(50) == 7.5  # never more than a full bucket is waited for
    bucket.credit(100)
    assert bucket.level == 10


def test_token_bucket_is_full_at_the_promised_time() -> None:
    """Synced at 10 of 60 (1/s), full at 51 s (a reset rounded up to the whole second):
    a whole 60, refilled at 1/s from the 6 left after taking 4, so full at 54 s."""
    clock = ManualClock()
    bucket = TokenBucket(60, 1, clock)
    bucket.sync(capacity=60, refill_per_s=1, level=10, full_at=51.0)
    assert bucket.ceiling == 60
    bucket.debit(4)
    clock.advance(51)
    assert bucket.level == 57
    clock.advance(10)
    assert bucket.level == 60


def test_token_bucket_that_fills_early_holds_only_what_the_reset_allows() -> None:
    """A 3000/min limit enforced per second: 0 left, full again in 1 s at 50/s. The
    bucket holds 50, not 3000, however long it stays idle (else an idle pause would end
    in a burst of 429s)."""
    clock = ManualClock()
    bucket = TokenBucket(3000, 50, clock)
    bucket.sync(capacity=3000, refill_per_s=50, level=0, full_at=2.0, remaining=0)
    assert bucket.ceiling == 50  # 0 + (2 s - the rounding second) x 50/s
    clock.advance(60)
    assert bucket.level == 50
    assert bucket.time_until(80) == 0  # a bigger estimate waits only for a full bucket


# --- HeadroomPacer --------------------------------------------------------------------


async def test_pacer_does_not_pace_before_any_header() -> None:
    """Without headers, 1000 reservations go through at once at time 0."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    for _ in range(1000):
        await pacer.reserve(100_000, 100_000)
    assert clock.now() == 0
    assert pacer.bucket("requests") is None
    assert pacer.outstanding == 1000


async def test_pacer_headers_sync_buckets_case_insensitively() -> None:
    """Mixed-case names set capacity = limit, refill = limit / 60, level = remaining."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    raw = headers("requests", 3000, 2500) | headers("output-tokens", 90_000, 80_000)
    pacer.observe_headers({name.title(): value for name, value in raw.items()})
    requests = pacer.bucket("requests")
    assert requests is not None
    assert (requests.capacity, requests.refill_per_s, requests.level) == (3000, 50, 2500)
    output = pacer.bucket("output-tokens")
    assert output is not None and output.level == 80_000
    assert pacer.bucket("input-tokens") is None


async def test_pacer_sync_subtracts_reservations_the_server_may_not_have_seen() -> None:
    """Two in flight: without a reference both are subtracted; after #1 only #2 is."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    first = await pacer.reserve(10, 100)
    await pacer.reserve(10, 100)
    pacer.observe_headers(headers("output-tokens", 60_000, 10_000))
    output = pacer.bucket("output-tokens")
    assert output is not None
    assert output.level == 10_000 - 200
    pacer.observe_headers(headers("output-tokens", 60_000, 10_000), first)
    assert output.level == 10_000 - 100


async def test_pacer_reconcile_after_own_headers_keeps_the_server_numbers() -> None:
    """Headers of call #1 adopted: reconciling #1 refunds nothing; #2 (unsynced) refunds."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    first = await pacer.reserve(10, 1000)
    second = await pacer.reserve(10, 1000)
    pacer.observe_headers(headers("output-tokens", 60_000, 10_000), first)
    output = pacer.bucket("output-tokens")
    assert output is not None and output.level == 9_000
    pacer.reconcile(first, 10, 100)
    assert output.level == 9_000
    pacer.reconcile(second, 10, 100)
    assert output.level == 9_900


async def test_pacer_waits_for_refill_when_remaining_is_low() -> None:
    """60 RPM with none remaining: the next call waits 1 s (no margin), not a 429."""
    clock = ManualClock()
    pacer = make_pacer(clock, request_margin=0)
    pacer.observe_headers(headers("requests", 60, 0))
    task = asyncio.create_task(pacer.reserve(10, 10))
    await clock.run_for(0.99)
    assert not task.done()
    await clock.run_for(0.01)
    assert task.done()


async def test_pacer_keeps_the_request_margin() -> None:
    """request_margin=1 with 1 remaining of 60 RPM: waits until 2 are available (1 s)."""
    clock = ManualClock()
    pacer = make_pacer(clock, request_margin=1)
    pacer.observe_headers(headers("requests", 60, 1))
    task = asyncio.create_task(pacer.reserve(10, 10))
    await clock.run_for(0.99)
    assert not task.done()
    await clock.run_for(0.01)
    assert task.done()


async def test_pacer_reads_a_short_reset_as_a_small_bucket() -> None:
    """0 of 600 input tokens left (10/s), full again in 2 s (one of them rounding): the
    bucket holds 10, not 600. A 500-token call waits for that full bucket (1 s), not for
    50 s of refill, then goes into debt."""
    clock = ManualClock()
    pacer = make_pacer(clock, token_margin=0)
    pacer.observe_headers(headers("input-tokens", 600, 0, rfc3339(clock, 2.0)))
    bucket = pacer.bucket("input-tokens")
    assert bucket is not None and bucket.ceiling == 10
    task = asyncio.create_task(pacer.reserve(500, 10))
    await clock.run_for(0.9)
    assert not task.done()
    await clock.run_for(0.1)
    assert task.done()
    assert bucket.level == pytest.approx(-490)


async def test_pacer_ignores_a_reset_in_the_past_or_unreadable() -> None:
    """A reset behind our wall clock (skew) or garbage does not open the bucket."""
    clock = ManualClock()
    pacer = make_pacer(clock, token_margin=0)
    pacer.observe_headers(headers("input-tokens", 600, 0, rfc3339(clock, -5.0)))
    pacer.observe_headers(headers("output-tokens", 600, 0, "soon"))
    task = asyncio.create_task(pacer.reserve(300, 1))
    await clock.run_for(29.9)
    assert not task.done()
    await clock.run_for(0.1)
    assert task.done()


async def test_pacer_reconcile_refunds_unused_output_tokens() -> None:
    """Reserve 1000 output tokens, use 200: 800 come back; extra input is debited."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    pacer.observe_headers(
        headers("input-tokens", 60_000, 50_000) | headers("output-tokens", 60_000, 50_000)
    )
    reservation = await pacer.reserve(300, 1000)
    output, inputs = pacer.bucket("output-tokens"), pacer.bucket("input-tokens")
    assert output is not None and inputs is not None
    assert (inputs.level, output.level) == (49_700, 49_000)
    pacer.reconcile(reservation, 350, 200)
    assert (inputs.level, output.level) == (49_650, 49_800)
    assert pacer.outstanding == 0
    with pytest.raises(RuntimeError):
        pacer.reconcile(reservation, 350, 200)


async def test_pacer_release_returns_the_whole_reservation() -> None:
    """A call that never reached the server gives back its request and tokens."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    pacer.observe_headers(headers("requests", 600, 10) | headers("output-tokens", 6000, 5000))
    reservation = await pacer.reserve(10, 1000)
    pacer.release(reservation)
    requests, output = pacer.bucket("requests"), pacer.bucket("output-tokens")
    assert requests is not None and output is not None
    assert (requests.level, output.level) == (10, 5000)
    with pytest.raises(RuntimeError):
        pacer.release(reservation)


async def test_pacer_new_headers_wake_a_waiting_reservation() -> None:
    """A reserve waiting on an empty bucket goes as soon as a header shows room."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    pacer.observe_headers(headers("requests", 60, 0))
    task = asyncio.create_task(pacer.reserve(1, 1))
    await settle()
    assert not task.done()
    pacer.observe_headers(headers("requests", 60, 30))
    await settle()
    assert task.done()
    assert clock.now() == 0


async def test_pacer_serves_reservations_in_arrival_order() -> None:
    """A big call queued first is not overtaken by small ones behind it."""
    clock = ManualClock()
    pacer = make_pacer(clock, token_margin=0)
    pacer.observe_headers(headers("input-tokens", 6000, 0))  # 100 tokens/s
    order: list[str] = []

    async def take(name: str, tokens: int) -> None:
        await pacer.reserve(tokens, 0)
        order.append(f"{name}@{clock.now():g}")

    big = asyncio.create_task(take("big", 1000))
    await settle()
    small = asyncio.create_task(take("small", 10))
    await clock.run_for(11)
    await asyncio.gather(big, small)
    assert order == ["big@10", "small@10.1"]


async def test_pacer_estimate_above_capacity_waits_for_full_then_borrows() -> None:
    """2000 tokens against a 600 bucket: waits for a full bucket, then goes into debt."""
    clock = ManualClock()
    pacer = make_pacer(clock, token_margin=0)
    pacer.observe_headers(headers("input-tokens", 600, 300))  # 10 tokens/s
    task = asyncio.create_task(pacer.reserve(2000, 0))
    await clock.run_for(30)
    assert task.done()
    bucket = pacer.bucket("input-tokens")
    assert bucket is not None and bucket.level == 600 - 2000


async def test_pacer_3000_rpm_header_paces_to_50_per_second_long_run() -> None:
    """One 3000-RPM header with nothing left: 60 s of calls make 50 requests/s."""
    clock = ManualClock(auto_advance=True)
    pacer = make_pacer(clock)
    pacer.observe_headers(headers("requests", 3000, 0))
    calls = 0
    while clock.now() < 60:
        reservation = await pacer.reserve(100, 100)
        pacer.reconcile(reservation, 100, 50)
        calls += 1
    rate = calls / clock.now()
    assert rate == pytest.approx(50, rel=0.005)


def test_pacer_rejects_negative_margins() -> None:
    """Margins must be non-negative, the token margin a fraction below 1."""
    clock = ManualClock()
    with pytest.raises(ValueError):
        HeadroomPacer(clock, request_margin=-1)
    with pytest.raises(ValueError):
        HeadroomPacer(clock, token_margin=1.5)


async def test_pacer_rejects_negative_estimates() -> None:
    """A negative token estimate is a bug, not a refund."""
    with pytest.raises(ValueError):
        await make_pacer(ManualClock()).reserve(-1, 10)


async def test_pacer_skips_malformed_header_values() -> None:
    """Non-numeric or zero limits leave the bucket unknown."""
    clock = ManualClock()
    pacer = make_pacer(clock)
    bad: Mapping[str, str] = headers("requests", 0, 0) | {
        "anthropic-ratelimit-input-tokens-limit": "lots",
        "anthropic-ratelimit-input-tokens-remaining": "5",
    }
    pacer.observe_headers(bad)
    assert pacer.bucket("requests") is None
    assert pacer.bucket("input-tokens") is None


async def test_pacer_says_which_budget_its_head_reservation_waits_for() -> None:
    """The live panel's "waiting for budget: rate-limit input-tokens" comes from here."""
    clock = ManualClock()
    pacer = make_pacer(clock, request_margin=0, token_margin=0)
    pacer.observe_headers({**headers("input-tokens", 6_000, 0), **headers("requests", 50, 40)})
    assert pacer.blocked_on is None
    task = asyncio.create_task(pacer.reserve(600, 10))
    await settle()
    assert pacer.blocked_on == "input-tokens"
    pacer.observe_headers(headers("input-tokens", 6_000, 6_000))
    await settle()
    assert task.done() and pacer.blocked_on is None
    pacer.release(task.result())
