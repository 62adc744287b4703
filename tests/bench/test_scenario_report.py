"""The scenario report's arithmetic on literal runs: window throughput, ideal, carry,
recovery after an rpm change, worker shares and the server's error counts."""

from __future__ import annotations

from typing import Any

from stream.bench.scenario_books import ScenarioAccounting
from stream.bench.scenario_report import bucket_carry, figures
from stream.bench.scenario_runner import RunResult, Scenario, Variant
from stream.bench.scenario_text import verdicts
from stream.bench.scenario_worker import WorkerSummary

T0 = 1_000.0  # epoch seconds of the first dispatched record


def _rows(rates: list[float], *, limit: int = 50) -> list[dict[str, Any]]:
    """0.5 s samples of a worker completing ``rates[i]`` documents/s in second i."""
    rows, done = [], 0.0
    for i in range(2 * len(rates) + 1):
        if i:
            done += rates[(i - 1) // 2] / 2
        rows.append(
            {"ts": T0 + i / 2, "dispatched": 1, "processed": round(done, 3), "results": 0,
             "dead": 0, "limit": limit, "inflight": limit - 1, "waiting": 0, "outcomes": {}}
        )  # fmt: skip
    return rows


def _run(
    scenario: Scenario,
    samples: dict[str, list[dict[str, Any]]],
    *,
    timeline: list[dict[str, int]] | None = None,
    changes: list[tuple[float, int]] | None = None,
    duration: float = 60.0,
) -> RunResult:
    workers = [
        WorkerSummary(worker_id=w, processed=int(r[-1]["processed"])) for w, r in samples.items()
    ]
    return RunResult(
        scenario=scenario,
        variant=Variant("aimd"),
        duration_s=duration,
        warmup_s=10.0,
        client_cap=256,
        published=10**6,
        workers=workers,
        samples=samples,
        sim_stats={"status_counts": {"200": 1, "429": 7}, "timeline": timeline or []},
        sim_origin_ts=T0,
        changes_ts=changes or [],
        accounting=ScenarioAccounting(10**6, 0, 0, 0, 0, 0, 0),
    )


def test_figures_steady_run_at_ideal_gives_ratio_one() -> None:
    """50 docs/s for 60 s against 3000 RPM is 100% of the ideal; 429s split by window."""
    timeline = [
        {"t": t, "requests": 51 if t < 10 else 50, "429": int(t < 10), "529": 0, "5xx": 0}
        for t in range(60)
    ]
    fig = figures(
        _run(Scenario("steady", "", rpm=3000), {"w": _rows([50.0] * 60)}, timeline=timeline)
    )
    assert abs(fig.throughput - 50.0) < 1e-6
    assert fig.ideal == 50.0
    assert fig.carry == 0.0  # 50 admitted a second: the bucket never saves anything
    assert abs(fig.ratio - 1.0) < 1e-6
    assert fig.r429_total == 7 and fig.r429_window == 0
    assert fig.requests_in_window == 50 * 50
    assert fig.pct_429 == 0.0
    assert all(v.passed for v in verdicts(fig))


def test_figures_slow_warmup_is_measured_against_saved_budget() -> None:
    """A worker idle for 10 s saved 500 requests; spending them later is not above ideal."""
    timeline = [{"t": t, "requests": 0 if t < 10 else 60, "429": 0, "529": 0, "5xx": 0}
                for t in range(60)]  # fmt: skip
    run = _run(Scenario("steady", "", rpm=3000), {"w": _rows([0.0] * 10 + [60.0] * 50)},
               timeline=timeline)  # fmt: skip
    assert abs(bucket_carry(run, T0 + 10.0) - 500.0) < 1e-6
    fig = figures(run)
    assert abs(fig.ratio_to_ideal - 1.2) < 1e-6
    assert abs(fig.carry - 10.0) < 1e-6  # 500 requests over the 50 s window
    assert abs(fig.ratio - 1.0) < 1e-6


def test_figures_shift_reports_recovery_per_change() -> None:
    """After 3000 -> 1200 the rate is back at 20/s 4 s later; after -> 3000 never."""
    rates = [50.0] * 20 + [50.0, 35.0, 20.0] + [20.0] * 17 + [25.0] * 20
    changes = [(T0 + 20.0, 1200), (T0 + 40.0, 3000)]
    scenario = Scenario("shift", "", rpm=3000, changes=((1 / 3, 1200), (2 / 3, 3000)))
    fig = figures(_run(scenario, {"w": _rows(rates)}, changes=changes))
    first, second = fig.recoveries
    assert (first.rpm, first.ideal) == (1200, 20.0)
    assert first.recovered_after_s == 4.0  # the first 2 s window all at 20/s: [22, 24]
    assert second.recovered_after_s is None
    assert [v.passed for v in verdicts(fig)] == [True, True, False]
    assert abs(fig.ideal - (10 * 50 + 20 * 20 + 20 * 50) / 50) < 1e-6


def test_figures_multi_worker_shares_flag_a_starved_worker() -> None:
    """Three workers at 30/15/5 docs/s: the third has 0.3x its fair share."""
    samples = {"a": _rows([30.0] * 60), "b": _rows([15.0] * 60), "c": _rows([5.0] * 60)}
    fig = figures(_run(Scenario("multi-worker", "", rpm=3000, workers=3), samples))
    assert abs(fig.throughput - 50.0) < 1e-6
    assert abs(fig.shares["c"] - 0.1) < 1e-6
    starved = [v for v in verdicts(fig) if v.target.startswith("no worker")]
    assert starved and not starved[0].passed
