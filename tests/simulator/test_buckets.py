"""Token buckets and the rate limiter, with an injected clock (no sleeping)."""

from __future__ import annotations

import calendar
import time

from hypothesis import given
from hypothesis import strategies as st

from stream.simulator.buckets import Admission, RateLimiter, TokenBucket
from tests.simulator.helpers import ManualClock


def test_bucket_starts_full_and_refills_at_limit_over_sixty_per_second() -> None:
    """A 600/min bucket holds 600, and refills 10 per second after being emptied."""
    clock = ManualClock()
    bucket = TokenBucket(600, clock)
    assert bucket.available() == 600
    bucket.take(600)
    assert bucket.available() == 0
    clock.advance(1.0)
    assert bucket.available() == 10.0
    clock.advance(2.5)
    assert bucket.available() == 35.0


def test_bucket_refill_stops_at_capacity() -> None:
    """Idle time never fills a bucket beyond its per-minute limit."""
    clock = ManualClock()
    bucket = TokenBucket(120, clock)
    bucket.take(20)
    clock.advance(3600)
    assert bucket.available() == 120


def test_bucket_wait_is_time_until_enough_tokens() -> None:
    """wait_s is the missing amount divided by the refill rate; 0 when it fits now."""
    clock = ManualClock()
    bucket = TokenBucket(60, clock)  # 1 token/s
    assert bucket.wait_s(60) == 0.0
    bucket.take(60)
    assert bucket.wait_s(1) == 1.0
    assert bucket.wait_s(15) == 15.0
    clock.advance(5)
    assert bucket.wait_s(15) == 10.0


def test_bucket_request_larger_than_capacity_waits_for_a_full_bucket() -> None:
    """A request bigger than the whole bucket needs a full bucket, not forever."""
    clock = ManualClock()
    bucket = TokenBucket(60, clock)
    assert bucket.wait_s(1000) == 0.0
    bucket.take(1000)
    assert bucket.available() == 0
    assert bucket.wait_s(1000) == 60.0


def test_bucket_set_limit_changes_rate_and_clips_level() -> None:
    """Lowering the limit clips the level; the refill rate follows the new limit."""
    clock = ManualClock()
    bucket = TokenBucket(3000, clock)
    bucket.set_limit(1200)
    assert bucket.available() == 1200
    bucket.take(1200)
    clock.advance(1.0)
    assert bucket.available() == 20.0  # 1200 / 60 per second
    bucket.set_limit(3000)
    clock.advance(1.0)
    assert bucket.available() == 70.0  # now 50 per second


@given(st.lists(st.tuples(st.floats(0, 30), st.integers(0, 500)), max_size=40))
def test_bucket_never_exceeds_capacity_nor_admits_more_than_rate_allows(
    ops: list[tuple[float, int]],
) -> None:
    """Level stays within [0, capacity]; admitted tokens <= capacity + rate x elapsed."""
    clock = ManualClock(0.0)
    bucket = TokenBucket(300, clock)  # 5 tokens/s
    admitted = 0.0
    for dt, want in ops:
        clock.advance(dt)
        if bucket.wait_s(want) == 0.0:
            admitted += bucket.need(want)
            bucket.take(want)
        assert -1e-9 <= bucket.available() <= bucket.capacity
    assert admitted <= 300 + 5.0 * clock.t + 1e-6


def test_limiter_refusal_takes_nothing_and_names_the_binding_limit() -> None:
    """A refused request leaves every bucket untouched and reports the slowest bucket."""
    clock = ManualClock()
    limiter = RateLimiter(rpm=60, itpm=600, otpm=None, now=clock)
    assert limiter.admit(input_tokens=500, max_tokens=100).admitted
    refused = limiter.admit(input_tokens=500, max_tokens=100)
    assert not refused.admitted
    assert refused.reason == "input tokens" and refused.limit == 600
    assert refused.retry_after_s == 40.0  # 400 missing at 10/s
    assert limiter.buckets["requests"] is not None
    assert limiter.buckets["requests"].available() == 59


def test_limiter_reserves_max_tokens_and_settles_to_actual_output() -> None:
    """OTPM is reserved at max_tokens and corrected to the real output afterwards."""
    clock = ManualClock()
    limiter = RateLimiter(rpm=None, itpm=None, otpm=1000, now=clock)
    assert limiter.admit(10, max_tokens=800).admitted
    assert not limiter.admit(10, max_tokens=800).admitted
    limiter.settle(reserved_output=800, actual_output=50)
    bucket = limiter.buckets["output-tokens"]
    assert bucket is not None and bucket.available() == 950
    assert limiter.admit(10, max_tokens=800).admitted


def test_admission_retry_after_header_is_ceiling_in_whole_seconds() -> None:
    """retry-after is an integer, rounded up, at least 1."""
    assert Admission(0.2, "requests", 1).retry_after_header == "1"
    assert Admission(30.0, "requests", 1).retry_after_header == "30"
    assert Admission(30.01, "requests", 1).retry_after_header == "31"


def test_limiter_headers_report_limit_remaining_and_rfc3339_reset() -> None:
    """Each configured bucket yields limit/remaining/reset; reset = when it is full again."""
    clock = ManualClock()
    wall = 1_700_000_000.0
    limiter = RateLimiter(rpm=60, itpm=None, otpm=None, now=clock, wall=lambda: wall)
    limiter.admit(1, 1)
    limiter.admit(1, 1)
    lines = dict(line.split(": ", 1) for line in limiter.headers().strip().split("\r\n") if line)
    assert lines["anthropic-ratelimit-requests-limit"] == "60"
    assert lines["anthropic-ratelimit-requests-remaining"] == "58"
    reset = calendar.timegm(
        time.strptime(lines["anthropic-ratelimit-requests-reset"], "%Y-%m-%dT%H:%M:%SZ")
    )
    assert reset == wall + 2  # two tokens missing at one per second
    assert not any(name.startswith("anthropic-ratelimit-input") for name in lines)


def test_limiter_tokens_headers_repeat_the_most_restrictive_token_bucket() -> None:
    """anthropic-ratelimit-tokens-* mirror whichever token bucket is closest to empty."""
    clock = ManualClock()
    limiter = RateLimiter(rpm=None, itpm=10_000, otpm=2_000, now=clock)
    limiter.admit(input_tokens=1_000, max_tokens=1_500)  # itpm 90% left, otpm 25% left
    lines = dict(line.split(": ", 1) for line in limiter.headers().strip().split("\r\n"))
    assert lines["anthropic-ratelimit-tokens-limit"] == "2000"
    assert lines["anthropic-ratelimit-tokens-remaining"] == "500"
    assert "anthropic-ratelimit-requests-limit" not in lines


def test_limiter_set_limits_adds_and_removes_buckets_live() -> None:
    """A limit set to None disappears (unlimited); a new limit starts with a full bucket."""
    clock = ManualClock()
    limiter = RateLimiter(rpm=1, itpm=None, otpm=None, now=clock)
    assert limiter.admit(1, 1).admitted
    assert not limiter.admit(1, 1).admitted
    limiter.set_limits(rpm=None)
    assert limiter.admit(1, 1).admitted
    limiter.set_limits(itpm=100)
    assert limiter.limits() == {"rpm": None, "itpm": 100, "otpm": None}
    assert limiter.admit(100, 1).admitted
    assert not limiter.admit(1, 1).admitted


def test_one_second_bucket_holds_a_second_of_a_per_minute_limit() -> None:
    """bucket_s=1: a 3000/min limit admits 50 at once, then 50 per second, and the
    headers still advertise 3000 with the small bucket's remaining and reset."""
    clock = ManualClock()
    limiter = RateLimiter(3000, None, None, now=clock, wall=lambda: 1_000_000.0, bucket_s=1.0)
    admitted = sum(limiter.admit(10, 10).admitted for _ in range(60))
    assert admitted == 50
    refused = limiter.admit(10, 10)
    assert refused.limit == 3000 and 0 < refused.retry_after_s <= 0.02
    clock.advance(0.5)
    assert sum(limiter.admit(10, 10).admitted for _ in range(40)) == 25
    headers = limiter.headers()
    assert "anthropic-ratelimit-requests-limit: 3000\r\n" in headers
    assert "anthropic-ratelimit-requests-remaining: 0\r\n" in headers
    assert limiter.limits()["rpm"] == 3000


def test_bucket_set_limit_keeps_its_interval() -> None:
    """A live limit change keeps a one-second bucket one second deep."""
    clock = ManualClock()
    bucket = TokenBucket(3000, clock, bucket_s=1.0)
    bucket.set_limit(1200)
    assert bucket.capacity == 20 and bucket.rate == 20
    clock.advance(10)
    assert bucket.available() == 20
