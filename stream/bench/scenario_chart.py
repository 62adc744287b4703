"""PNG charts of a scenario: one column per variant, three rows over time.

Row 1: each worker's limit (solid) and calls in flight (dotted), from its 0.5 s samples.
Row 2: documents completed per second (all workers) and the ideal (dashed).
Row 3: what the simulator answered per second: 429s, 529s and other 5xx.

The x axis is seconds after the first dispatched record; the shaded band is the
measured window. matplotlib runs with the Agg backend (no display needed) and is
imported only when a chart is drawn, so the rest of the bench works without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stream.bench.scenario_report import completion_series, rpm_at, start_time
from stream.bench.scenario_runner import RunResult

__all__ = ["draw_scenario"]


def draw_scenario(runs: Sequence[RunResult], path: Path, title: str) -> Path:
    """Draw ``runs`` of one scenario side by side into ``path`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(runs), 1)
    fig, axes = plt.subplots(3, cols, figsize=(6.5 * cols, 9), sharex="col", squeeze=False)
    for col, run in enumerate(runs):
        _draw_run(run, [axes[row][col] for row in range(3)])
    for row in range(3):  # one scale per row, so the variants compare at a glance
        top = max(axes[row][c].get_ylim()[1] for c in range(cols))
        if row == 1 and runs:  # a burst of completions must not flatten the steady part
            top = min(top, 2.0 * runs[0].scenario.peak_ideal(runs[0].client_cap))
        for c in range(cols):
            axes[row][c].set_ylim(0, top)
    fig.suptitle(title)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _draw_run(run: RunResult, axes: list[Any]) -> None:
    t0 = start_time(run)
    limits, rates, errors = axes
    for i, rows in enumerate(run.samples.values()):
        xs = [r["ts"] - t0 for r in rows if r["limit"] is not None]
        limits.plot(xs, [r["limit"] for r in rows if r["limit"] is not None], color=f"C{i}")
        limits.plot(
            xs,
            [r["inflight"] for r in rows if r["limit"] is not None],
            color=f"C{i}",
            linestyle=":",
        )
    limits.set_title(f"{run.variant.label}: limit (solid), in flight (dotted)")
    series = completion_series(run, t0)
    rates.plot([x for x, _ in series], [y for _, y in series], color="C0", label="docs/s")
    ideal = [run.scenario.ideal_at(rpm_at(run, t0 + x), run.client_cap) for x, _ in series]
    rates.plot([x for x, _ in series], ideal, color="k", linestyle="--", label="ideal")
    rates.set_title("documents completed per second")
    rates.legend(loc="lower right")
    timeline = run.sim_stats.get("timeline", [])
    xs = [run.sim_origin_ts + row["t"] - t0 for row in timeline]
    for key, color in (("429", "C3"), ("529", "C1"), ("5xx", "C4")):
        errors.plot(xs, [row.get(key, 0) for row in timeline], color=color, label=key)
    errors.set_title("simulator answers per second")
    errors.set_xlabel("seconds after the first record")
    errors.legend(loc="upper right")
    for ax in axes:
        ax.axvspan(run.warmup_s, run.duration_s, color="0.92", zorder=0)
        ax.set_xlim(left=0)
