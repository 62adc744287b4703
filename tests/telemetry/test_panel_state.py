"""The live panel says what the worker is doing and marks estimates (issue 13, item 14);
/readyz reads the same state."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console

from stream.progress import MIN_RATE_WINDOW_S, ProgressSnapshot, render
from stream.worker_state import Phase, WorkerView, describe

_BASE = WorkerView(
    finished=False,
    assigned=4,
    pause_reasons=frozenset(),
    budget_waits=(),
    retry_after_s=None,
)

_SNAPSHOT = ProgressSnapshot(
    elapsed_s=35.0,
    processed=120,
    results=118,
    dead_lettered=2,
    inflight=1,
    limit=207,
    lag=5_000,
    rate_per_s=20.0,
    rate_limited=0,
    overloaded=0,
    tokens_per_min=60_000.0,
    cost_per_min_usd=0.5,
    cost_total_usd=0.25,
    eta_s=212.0,
    rate_window_s=30.0,
)


def _text(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


@pytest.mark.parametrize(
    ("changes", "phase", "title", "ready"),
    [
        ({"assigned": 0}, Phase.JOINING, "joining: consumer group", False),
        ({}, Phase.RUNNING, "running", True),
        (
            {"budget_waits": ("input-tokens",)},
            Phase.WAITING,
            "waiting for budget: rate-limit input-tokens",
            True,
        ),
        ({"retry_after_s": 12.0}, Phase.WAITING, "waiting for budget: retry-after 12s", True),
        (
            {"pause_reasons": frozenset({"breaker", "backpressure"})},
            Phase.PAUSED,
            "paused: circuit breaker open",
            True,
        ),
        (
            {"pause_reasons": frozenset({"fatal"}), "assigned": 0},
            Phase.PAUSED,
            "paused: auth, config or spend-cap outcome",
            False,
        ),
        ({"pause_reasons": frozenset({"shutdown", "fatal"})}, Phase.DRAINING, "draining", False),
        ({"finished": True, "pause_reasons": frozenset({"shutdown"})}, Phase.DONE, "done", False),
    ],
)
def test_state_from_what_the_worker_exposes(
    changes: dict[str, object], phase: Phase, title: str, ready: bool
) -> None:
    state = describe(replace(_BASE, **changes))  # type: ignore[arg-type]
    assert (state.phase, state.title, state.ready) == (phase, title, ready)


@pytest.mark.parametrize(
    "changes",
    [
        {"assigned": 0},
        {"budget_waits": ("output-tokens",)},
        {"finished": True, "pause_reasons": frozenset({"shutdown"})},
        {"pause_reasons": frozenset({"shutdown"})},
    ],
)
def test_panel_title_names_the_state(changes: dict[str, object]) -> None:
    """No bare "processed 0, limit 0" while joining, no red PAUSED: shutdown at a normal end."""
    state = describe(replace(_BASE, **changes))  # type: ignore[arg-type]
    text = _text(render(replace(_SNAPSHOT, state=state)))
    assert f"docstream — {state.title}" in text
    assert "PAUSED" not in text


def test_rates_from_a_few_seconds_are_not_shown_as_facts() -> None:
    """A 5-second window: "measuring", no per-minute figures, no ETA."""
    text = _text(render(replace(_SNAPSHOT, rate_window_s=MIN_RATE_WINDOW_S / 2)))
    assert text.count("measuring…") == 2
    assert "ETA —" in text
    assert "$0.5000/min" not in text and "20.0 docs/s" not in text and "60.0k" not in text
    assert "$0.2500 total" in text


def test_rates_over_the_window_are_labelled_estimates() -> None:
    text = _text(render(_SNAPSHOT))
    assert "≈ 20.0 docs/s (est., last 30s)" in text
    assert "ETA ≈ 3m 32s (est.)" in text
    assert "≈ 60.0k" in text and "≈ $0.5000/min" in text
