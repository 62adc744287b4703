"""Limit algorithms, with literal numbers and hypothesis properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from stream.concurrency import AIMDLimit, FixedLimit, Limit, TokenLatencyLimit


def ok(limit: Limit, now: float, *, inflight: int, rtt: float = 1.0, **extra: float) -> int:
    return limit.on_sample(now=now, rtt=rtt, inflight=inflight, dropped=False, **extra)  # type: ignore[arg-type]


def drop(limit: Limit, now: float, *, rtt: float = 0.0, inflight: int = 1) -> int:
    return limit.on_sample(now=now, rtt=rtt, inflight=inflight, dropped=True)


# --- FixedLimit -------------------------------------------------------------------------


def test_fixed_limit_ignores_every_sample() -> None:
    """FixedLimit(7) stays 7 after drops and full-window successes."""
    limit = FixedLimit(7)
    assert isinstance(limit, Limit)
    assert drop(limit, 1.0) == 7
    assert ok(limit, 2.0, inflight=7) == 7
    assert limit.limit == 7
    with pytest.raises(ValueError):
        FixedLimit(0)


# --- AIMDLimit: literal numbers -------------------------------------------------------


def test_aimd_drop_from_ten_cuts_to_nine() -> None:
    """floor(10 * 0.9) = 9."""
    limit = AIMDLimit(initial=10, min_limit=1, max_limit=100)
    assert drop(limit, 1.0) == 9


def test_aimd_grows_only_when_half_the_window_is_used() -> None:
    """At L=10, inflight 4 leaves it at 10; inflight 5 makes it 11."""
    limit = AIMDLimit(initial=10, min_limit=1, max_limit=100)
    assert ok(limit, 1.0, inflight=4) == 10
    assert ok(limit, 2.0, inflight=5) == 11


def test_aimd_clamps_to_min_and_max() -> None:
    """A drop at the minimum stays there; growth at the maximum stays there."""
    low = AIMDLimit(initial=2, min_limit=2, max_limit=5)
    assert drop(low, 1.0) == 2
    high = AIMDLimit(initial=5, min_limit=1, max_limit=5)
    assert ok(high, 1.0, inflight=5) == 5


def test_aimd_after_a_drop_grows_one_per_round_trip() -> None:
    """After the cut to 9, nine full-window samples add one (congestion avoidance)."""
    limit = AIMDLimit(initial=10, min_limit=1, max_limit=100)
    drop(limit, 1.0)
    assert not limit.in_slow_start
    for i in range(8):
        assert ok(limit, 1.1 + i * 0.01, inflight=9) == 9
    assert ok(limit, 1.2, inflight=9) == 10


def test_aimd_drops_of_calls_started_before_the_cut_do_not_cut_again() -> None:
    """A burst of drops from calls in flight at the first cut costs one cut, not five."""
    limit = AIMDLimit(initial=20, min_limit=1, max_limit=100)
    assert drop(limit, 10.0, rtt=2.0) == 18
    for i in range(5):
        assert drop(limit, 10.1 + i * 0.1, rtt=1.0) == 18  # started at ~9.x < 10.0
    assert drop(limit, 12.0, rtt=1.0) == 16  # started at 11.0, after the cut


def test_aimd_rtt_above_timeout_counts_as_a_drop() -> None:
    """With timeout=5, a 6 s success cuts 10 -> 9."""
    limit = AIMDLimit(initial=10, min_limit=1, max_limit=100, timeout=5.0)
    assert ok(limit, 100.0, inflight=10, rtt=6.0) == 9


def test_aimd_returns_to_slow_start_after_a_quiet_period() -> None:
    """probe_after_s=10 without a drop: growth is one per sample again."""
    limit = AIMDLimit(initial=10, min_limit=1, max_limit=100, probe_after_s=10.0)
    drop(limit, 0.0)
    ok(limit, 5.0, inflight=9)
    assert not limit.in_slow_start
    assert ok(limit, 10.0, inflight=9) == 10  # 9.11.. + 1
    assert limit.in_slow_start
    assert ok(limit, 10.1, inflight=9) == 11


def test_aimd_without_slow_start_starts_in_congestion_avoidance() -> None:
    """slow_start=False: the first full-window sample adds 1/L, not 1."""
    limit = AIMDLimit(initial=10, min_limit=1, max_limit=100, slow_start=False)
    assert ok(limit, 0.0, inflight=10) == 10
    assert not limit.in_slow_start


@pytest.mark.parametrize(
    ("initial", "low", "high", "ratio"),
    [(0, 1, 10, 0.9), (5, 6, 10, 0.9), (11, 1, 10, 0.9), (5, 1, 10, 1.0), (5, 1, 10, 0.0)],
)
def test_adaptive_limits_reject_bad_parameters(
    initial: int, low: int, high: int, ratio: float
) -> None:
    """Bounds out of order or a backoff ratio outside (0, 1) raise ValueError."""
    with pytest.raises(ValueError):
        AIMDLimit(initial, low, high, ratio)
    with pytest.raises(ValueError):
        TokenLatencyLimit(initial, low, high, backoff_ratio=ratio)


# --- TokenLatencyLimit: literal numbers ------------------------------------------------


def per_sample_windows(**kwargs: float) -> TokenLatencyLimit:
    """A TokenLatencyLimit whose every sample closes a window (literal arithmetic)."""
    return TokenLatencyLimit(window_s=0.0, window_min_samples=1, **kwargs)  # type: ignore[arg-type]


def test_token_latency_steady_latency_grows_by_sqrt_when_used() -> None:
    """16 -> 16 + sqrt(16) = 20 for a full window at the baseline per-token latency."""
    limit = per_sample_windows(initial=16, min_limit=1, max_limit=100)
    assert ok(limit, 1.0, inflight=16, rtt=2.0, output_tokens=100) == 20


def test_token_latency_app_limited_does_not_grow() -> None:
    """With at most 7 in flight at L=16 the limit stays 16."""
    limit = per_sample_windows(initial=16, min_limit=1, max_limit=100)
    for i in range(5):
        assert ok(limit, float(i), inflight=7, rtt=2.0, output_tokens=100) == 16


def test_token_latency_tripled_per_token_latency_shrinks() -> None:
    """Baseline 0.02 s/token, then 0.06: gradient 0.5, 20 -> 0.8*20 + 0.2*(10 + sqrt 20) = 18."""
    limit = per_sample_windows(initial=20, min_limit=1, max_limit=100)
    ok(limit, 1.0, inflight=1, rtt=2.0, output_tokens=100)  # baseline 0.02, app-limited
    assert limit.limit == 20
    assert limit.baseline() == pytest.approx(0.02)
    expected = 0.8 * 20 + 0.2 * (20 * 0.5 + math.sqrt(20))
    assert ok(limit, 2.0, inflight=20, rtt=6.0, output_tokens=100) == int(expected) == 18


def test_token_latency_long_answer_at_same_pace_is_not_congestion() -> None:
    """2 s for 100 tokens, then 40 s for 2000 tokens: the limit grows, never shrinks."""
    limit = per_sample_windows(initial=16, min_limit=1, max_limit=100)
    assert ok(limit, 1.0, inflight=16, rtt=2.0, output_tokens=100) == 20
    assert ok(limit, 41.0, inflight=20, rtt=40.0, output_tokens=2000) > 20


def test_token_latency_uses_time_to_first_token_when_given() -> None:
    """Same TTFT with a 20x longer answer: no shrink; TTFT tripled: shrink."""
    limit = per_sample_windows(initial=20, min_limit=1, max_limit=100)
    ok(limit, 1.0, inflight=1, rtt=2.0, output_tokens=100, ttft=0.5)
    ok(limit, 2.0, inflight=1, rtt=40.0, output_tokens=2000, ttft=0.5)
    assert limit.limit == 20
    assert limit.baseline("ttft") == pytest.approx(0.5)
    assert ok(limit, 3.0, inflight=20, rtt=2.0, output_tokens=100, ttft=1.5) == 18


def test_token_latency_drop_cuts_multiplicatively() -> None:
    """A drop takes 20 to 18 (x0.9) at once, unlike Gradient2 which ignores drops."""
    limit = TokenLatencyLimit(initial=20, min_limit=1, max_limit=100)
    assert drop(limit, 5.0) == 18


def test_token_latency_window_needs_time_and_samples() -> None:
    """Defaults: nothing changes until a window has 1 s and 10 samples."""
    limit = TokenLatencyLimit(initial=16, min_limit=1, max_limit=100)
    for i in range(9):
        assert ok(limit, 0.5 + i, inflight=16, rtt=1.0, output_tokens=50) == 16
    assert ok(limit, 10.0, inflight=16, rtt=1.0, output_tokens=50) == 20


def test_token_latency_baseline_recovers_after_overload() -> None:
    """Once latency falls below half the baseline, it decays faster than its average."""
    limit = per_sample_windows(initial=20, min_limit=1, max_limit=100, long_window=10)
    ema = 2.0 / (10 + 1)
    for i in range(400):  # a long slow period becomes the baseline (slowly)
        ok(limit, float(i), inflight=1, rtt=5.0, output_tokens=100)
    start = limit.baseline()
    assert start == pytest.approx(0.05)
    plain = start
    for i in range(5):  # the overload is over: 0.01 s/token again
        ok(limit, 500.0 + i, inflight=1, rtt=1.0, output_tokens=100)
        plain += (0.01 - plain) * ema
    baseline = limit.baseline()
    assert baseline is not None
    assert baseline < plain * 0.9


def test_token_latency_too_slow_windows_move_the_baseline_ten_times_slower() -> None:
    """long_window=1: a tolerated window replaces the baseline; a 3x slower one moves it 10%."""
    limit = per_sample_windows(
        initial=20, min_limit=1, max_limit=100, long_window=1, warmup_windows=0
    )
    ok(limit, 0.0, inflight=1, rtt=2.0, output_tokens=100)
    assert limit.baseline() == pytest.approx(0.02)
    ok(limit, 1.0, inflight=1, rtt=6.0, output_tokens=100)
    assert limit.baseline() == pytest.approx(0.024)
    ok(limit, 2.0, inflight=1, rtt=2.5, output_tokens=100)
    assert limit.baseline() == pytest.approx(0.025)


def test_token_latency_growth_is_smoothed_shortly_after_a_drop() -> None:
    """Cut to 14.4; 1 s later growth is 0.2 * sqrt (-> 15); 11 s later full sqrt (-> 18)."""
    smoothed = per_sample_windows(initial=16, min_limit=1, max_limit=100)
    free = per_sample_windows(initial=16, min_limit=1, max_limit=100)
    for limit in (smoothed, free):
        assert drop(limit, 0.0) == 14
    assert ok(smoothed, 1.0, inflight=14, rtt=2.0, output_tokens=100) == 15
    assert ok(free, 11.0, inflight=14, rtt=2.0, output_tokens=100) == 18


# --- properties -----------------------------------------------------------------------

sample = st.tuples(
    st.floats(min_value=0.0, max_value=600.0),  # rtt
    st.integers(min_value=0, max_value=400),  # inflight
    st.booleans(),  # dropped
    st.one_of(st.none(), st.integers(min_value=0, max_value=8000)),  # output tokens
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=60.0)),  # ttft
    st.floats(min_value=0.0, max_value=5.0),  # time step
)
bounds = st.tuples(
    st.integers(min_value=1, max_value=50), st.integers(0, 50), st.integers(0, 200)
).map(lambda t: (t[0], t[0] + t[1], t[0] + t[1] + t[2]))


def make_limits(low: int, initial: int, high: int) -> list[Limit]:
    return [
        AIMDLimit(initial, low, high),
        AIMDLimit(initial, low, high, timeout=30.0, slow_start=False),
        AIMDLimit(initial, low, high, learn_cap=True, cap_probe_rounds=1),
        TokenLatencyLimit(initial, low, high),
        TokenLatencyLimit(initial, low, high, window_s=0.0, window_min_samples=1),
    ]


@given(bounds=bounds, samples=st.lists(sample, max_size=200))
# Found by hypothesis: a denormal latency over many tokens underflowed to a zero window.
@example(bounds=(1, 1, 1), samples=[(5e-324, 0, False, 2, None, 0.0)])
def test_limits_stay_within_bounds_and_drops_never_raise_them(
    bounds: tuple[int, int, int],
    samples: list[tuple[float, int, bool, int | None, float | None, float]],
) -> None:
    """For any samples: min <= limit <= max, and a drop (a 529 or another) never
    increases the limit."""
    low, initial, high = bounds
    for limit in make_limits(low, initial, high):
        now = 0.0
        for rtt, inflight, dropped, tokens, ttft, step in samples:
            now += step
            before = limit.limit
            after = limit.on_sample(
                now=now,
                rtt=rtt,
                inflight=inflight,
                dropped=dropped,
                output_tokens=tokens,
                ttft=ttft,
                overloaded=dropped and inflight % 2 == 0,  # 529s and other drops mixed
            )
            assert after == limit.limit
            assert low <= after <= high
            if dropped:
                assert after <= before


@given(
    initial=st.integers(min_value=1, max_value=100),
    steps=st.integers(min_value=1, max_value=300),
    drop_first=st.booleans(),
)
def test_aimd_full_utilisation_without_drops_grows_monotonically(
    initial: int, steps: int, drop_first: bool
) -> None:
    """inflight == limit and no drops: never shrinks, and +1 per sample in slow start."""
    limit = AIMDLimit(initial, 1, 500)
    now = 0.0
    if drop_first:
        drop(limit, now)
    for _ in range(steps):
        now += 0.01
        before, slow = limit.limit, limit.in_slow_start
        after = ok(limit, now, inflight=before)
        assert after >= before
        if slow:
            assert after == min(before + 1, 500)


@given(
    k=st.floats(min_value=1e-4, max_value=1.0),
    answers=st.lists(
        st.tuples(st.integers(min_value=1, max_value=8000), st.integers(0, 300)),
        min_size=1,
        max_size=300,
    ),
    per_sample=st.booleans(),
)
def test_token_latency_rtt_proportional_to_output_never_shrinks(
    k: float, answers: list[tuple[int, int]], per_sample: bool
) -> None:
    """rtt = k * output_tokens for any answer lengths and load: the limit never falls."""
    if per_sample:
        limit = per_sample_windows(initial=10, min_limit=1, max_limit=300)
    else:
        limit = TokenLatencyLimit(initial=10, min_limit=1, max_limit=300)
    now = 0.0
    for tokens, inflight in answers:
        now += 0.25
        before = limit.limit
        assert ok(limit, now, inflight=inflight, rtt=k * tokens, output_tokens=tokens) >= before


@pytest.mark.parametrize("rtt", [0.0, 5e-324, 1e-310, math.inf, math.nan, -1.0], ids=repr)
@pytest.mark.parametrize("tokens", [None, 0, 1, 8000])
@pytest.mark.parametrize("ttft", [None, 0.0, 5e-324, math.inf, math.nan])
def test_token_latency_survives_degenerate_latencies(
    rtt: float, tokens: int | None, ttft: float | None
) -> None:
    """Zero, denormal, infinite and NaN latencies never raise and never leave the bounds.

    Regression: a denormal sum over 2 tokens made the window latency 0.0 and the
    gradient divided by it (ZeroDivisionError in ``_Signal.close``).
    """
    for limit in (
        TokenLatencyLimit(10, 1, 50, window_s=0.0, window_min_samples=1),
        AIMDLimit(10, 1, 50),
    ):
        for i in range(30):
            ok(limit, float(i), inflight=10, rtt=1.0, output_tokens=10)
            value = limit.on_sample(
                now=float(i) + 0.5,
                rtt=rtt,
                inflight=10,
                dropped=False,
                output_tokens=tokens,
                ttft=ttft,
            )
            assert 1 <= value <= 50
        if isinstance(limit, TokenLatencyLimit):
            for signal in ("ttft", "per_token", "rtt"):
                base = limit.baseline(signal)
                assert base is None or (math.isfinite(base) and base > 0)
