"""ProgressTracker rates with a fake clock; the panel renders the numbers it is given."""

from __future__ import annotations

import asyncio
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from stream.progress import (
    LiveProgress,
    ProgressSnapshot,
    ProgressTracker,
    build_snapshot,
    format_duration,
    render,
)
from stream.telemetry.metrics import MetricTotals


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SNAPSHOT = ProgressSnapshot(
    elapsed_s=125.0,
    processed=12_345,
    results=12_300,
    dead_lettered=45,
    inflight=37,
    limit=48,
    lag=6_789,
    rate_per_s=41.5,
    rate_limited=3,
    overloaded=2,
    tokens_per_min=45_600.0,
    cost_per_min_usd=0.1234,
    cost_total_usd=12.5,
    eta_s=163.6,
    rate_window_s=30.0,
)


def _text(renderable: object, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_tracker_rate_over_window_uses_fake_clock() -> None:
    """rate() is the counter's increase per second between window ends."""
    clock = FakeClock()
    tracker = ProgressTracker(window_s=10.0, clock=clock)
    assert tracker.rate("n") is None
    for second in range(31):
        clock.now = float(second)
        tracker.sample({"n": 5.0 * second if second < 20 else 100.0 + 1.0 * (second - 20)})
    # The last 10 s grew by 1/s; the earlier 5/s phase has left the window.
    assert tracker.rate("n") == pytest.approx(1.0)
    assert tracker.per_minute("n") == pytest.approx(60.0)


@given(
    slope=st.floats(min_value=0, max_value=1e6),
    steps=st.lists(st.floats(min_value=0.01, max_value=5.0), min_size=1, max_size=50),
)
def test_tracker_linear_counter_rate_is_its_slope(slope: float, steps: list[float]) -> None:
    """For any sampling times, a counter growing linearly has rate equal to its slope."""
    clock = FakeClock()
    tracker = ProgressTracker(window_s=7.0, clock=clock)
    tracker.sample({"n": 0.0})
    for step in steps:
        clock.now += step
        tracker.sample({"n": slope * clock.now})
    assert tracker.rate("n") == pytest.approx(slope, rel=1e-9, abs=1e-9)


def test_tracker_counter_reset_starts_fresh_window() -> None:
    """A counter that goes down (restart) never yields a negative rate."""
    clock = FakeClock()
    tracker = ProgressTracker(window_s=60.0, clock=clock)
    tracker.sample({"n": 100.0})
    clock.now = 1.0
    tracker.sample({"n": 2.0})
    assert tracker.rate("n") is None
    clock.now = 2.0
    tracker.sample({"n": 4.0})
    assert tracker.rate("n") == 2.0


def test_tracker_eta_from_lag() -> None:
    """eta_s(lag) is lag / rate; zero lag is 0; no rate yet is None."""
    clock = FakeClock()
    tracker = ProgressTracker(window_s=30.0, clock=clock)
    tracker.sample({"processed": 0})
    assert tracker.eta_s(100) is None
    clock.now = 10.0
    tracker.sample({"processed": 50})
    assert tracker.eta_s(100) == 20.0
    assert tracker.eta_s(0) == 0.0
    assert tracker.eta_s(None) is None


def test_build_snapshot_computes_rates_from_totals() -> None:
    """build_snapshot samples totals: docs/s, tokens/min, $/min and ETA from lag."""
    clock = FakeClock()
    tracker = ProgressTracker(window_s=60.0, clock=clock)
    kwargs = {"elapsed_s": 0.0, "inflight": 4, "limit": 8, "lag": 300}
    build_snapshot(MetricTotals(), tracker, **kwargs)  # type: ignore[arg-type]
    clock.now = 30.0
    totals = MetricTotals(
        processed=60,
        results=58,
        dead_lettered=2,
        rate_limited=1,
        input_tokens=9_000,
        output_tokens=3_000,
        cost_usd=0.6,
    )
    snap = build_snapshot(totals, tracker, **kwargs)  # type: ignore[arg-type]
    assert snap.rate_per_s == 2.0
    assert snap.tokens_per_min == 24_000.0
    assert snap.cost_per_min_usd == pytest.approx(1.2)
    assert snap.eta_s == 150.0
    assert snap.rate_window_s == 30.0
    assert (snap.processed, snap.results, snap.dead_lettered, snap.rate_limited) == (60, 58, 2, 1)


def test_render_snapshot_contains_the_numbers() -> None:
    """The panel shows throughput, lag, ETA, in-flight/limit, 429s, tokens/min and cost."""
    text = _text(render(SNAPSHOT))
    for expected in (
        "12,345",
        "12,300",
        "45",
        "41.5 docs/s",
        "6,789",
        "ETA ≈ 2m 44s",
        "37 / limit 48",
        "3 / 2",
        "45.6k",
        "$0.1234/min",
        "$12.50 total",
        "2m 05s",
    ):
        assert expected in text, expected
    assert "PAUSED" not in text


def test_render_paused_and_unknown_lag() -> None:
    """A pause and its reason are in the title; unknown lag and ETA show as a dash."""
    from dataclasses import replace

    from stream.worker_state import Phase, WorkerState

    paused = WorkerState(Phase.PAUSED, "auth, config or spend-cap outcome", False)
    text = _text(render(replace(SNAPSHOT, state=paused, lag=None, eta_s=None)))
    assert "paused: auth, config or spend-cap outcome" in text
    assert "lag" in text and "ETA ≈ —" in text


def test_format_duration_hours() -> None:
    """Durations over an hour show hours and minutes."""
    assert format_duration(3 * 3600 + 5 * 60 + 7) == "3h 05m"
    assert format_duration(9.4) == "9s"


async def test_live_progress_async_refreshes_from_loop() -> None:
    """async with LiveProgress refreshes every refresh_s via the injected sleep."""
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    calls: list[int] = []
    sleeps: list[float] = []
    released = asyncio.Event()

    def source() -> ProgressSnapshot:
        calls.append(1)
        return SNAPSHOT

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 3:
            released.set()
            await asyncio.Event().wait()

    async with LiveProgress(source, console=console, sleep=fake_sleep):
        await released.wait()
    assert sleeps == [0.5, 0.5, 0.5]
    assert len(calls) == 4  # three loop frames and the final one
    assert isinstance(console.file, io.StringIO)
    assert "41.5 docs/s" in console.file.getvalue()


def test_live_progress_failing_source_shows_notice() -> None:
    """A source that raises leaves a notice on the panel instead of killing it."""
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)

    def broken() -> ProgressSnapshot:
        raise RuntimeError("boom")

    with LiveProgress(broken, console=console) as live:
        live.refresh()
    assert isinstance(console.file, io.StringIO)
    assert "progress unavailable (RuntimeError)" in console.file.getvalue()


def test_render_shows_spend_against_budget() -> None:
    """With a spend budget, the panel shows what is left of it per window."""
    from dataclasses import replace

    text = _text(render(replace(SNAPSHOT, budgets=(("hour", 2.5, 10.0),))))
    assert "budget/hour" in text and "$2.50 left of $10.00 (25%" in text
