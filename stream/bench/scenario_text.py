"""The printed side of the adaptive-concurrency scenarios: the table and the verdicts.

``verdicts`` holds the design.md section 8 targets for each scenario in one place, so the
table, the JSON and the README say the same thing; ``format_table`` lays the variants of
one scenario side by side, then the per-run details (books, recoveries, shares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stream.bench.scenario_report import RunFigures

__all__ = ["Verdict", "format_table", "verdicts"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One target of design.md section 8 against one adaptive run."""

    target: str
    passed: bool
    measured: str


def verdicts(fig: RunFigures) -> list[Verdict]:
    """The section 8 targets that apply to this scenario (no document lost: all of them)."""
    out = [Verdict("no document lost", fig.lost == 0, f"{fig.lost} lost")]
    name = fig.scenario
    if name == "steady":
        out.append(Verdict(">= 95% of ideal", fig.ratio >= 0.95, f"{fig.ratio:.1%}"))
        out.append(Verdict("429s <= 1% after warm-up", fig.pct_429 <= 1.0, f"{fig.pct_429:.2f}%"))
    elif name == "overload":
        out.append(Verdict(">= 90% of ideal", fig.ratio >= 0.90, f"{fig.ratio:.1%}"))
        out.append(Verdict("529s <= 2% after warm-up", fig.pct_529 <= 2.0, f"{fig.pct_529:.2f}%"))
    elif name == "shift":
        for r in fig.recoveries:
            took = "never" if r.recovered_after_s is None else f"{r.recovered_after_s:.1f} s"
            ok = r.recovered_after_s is not None and r.recovered_after_s <= 10.0
            out.append(Verdict(f"back within 5% in 10 s after -> {r.rpm} rpm", ok, took))
    elif name == "multi-worker":
        out.append(Verdict("aggregate >= 90% of ideal", fig.ratio >= 0.90, f"{fig.ratio:.1%}"))
        least = min(fig.shares.values(), default=0.0)
        fair = 1.0 / max(fig.workers, 1)
        out.append(
            Verdict("no worker < 0.5x fair share", least >= 0.5 * fair, f"min {least / fair:.2f}x")
        )
    return out


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(title: str, runs: Sequence[RunFigures]) -> str:
    """The side-by-side table of one scenario, then the scenario-specific lines."""
    lines = [title]
    head = (
        f"{'variant':<15}{'docs/s':>8}{'ideal':>8}{'+carry':>8}{'ratio':>8}"
        f"{'429 all/win (%win)':>22}{'529 all/win (%win)':>22}{'5xx':>6}"
        f"{'lost':>6}{'limit':>7}{'inflt':>7}"
    )
    lines.append(head)
    for f in runs:
        r429 = f"{f.r429_total}/{f.r429_window} ({f.pct_429:.2f}%)"
        r529 = f"{f.r529_total}/{f.r529_window} ({f.pct_529:.2f}%)"
        lines.append(
            f"{f.variant:<15}{f.throughput:>8.1f}{f.ideal:>8.1f}{f.carry:>8.1f}{f.ratio:>8.1%}"
            f"{r429:>22}{r529:>22}{f.r5xx_total:>6}{f.lost:>6}"
            f"{_opt(f.mean_limit):>7}{_opt(f.mean_inflight):>7}"
        )
    for f in runs:
        lines.extend(_details(f))
    return "\n".join(lines)


def _details(f: RunFigures) -> list[str]:
    lines = []
    books = (
        f"  {f.variant}: published {f.published}, results {f.results}, DLQ {f.dead_letters}, "
        f"duplicates {f.duplicated}, left unprocessed {f.unprocessed}, lost {f.lost}; "
        f"Claude answers {f.answers_per_s:.1f}/s in the window; worker CPU "
        f"{f.cpu_ms_per_doc:.1f} ms/doc; load average {f.load_before:.1f} at start"
    )
    lines.append(books + ("" if f.saturated else "  [backlog ran out inside the window]"))
    for r in f.recoveries:
        took = "not within 5%" if r.recovered_after_s is None else f"{r.recovered_after_s:.1f} s"
        lines.append(
            f"    +{r.at_s:.1f} s -> {r.rpm} rpm (ideal {r.ideal:.1f}/s): back within 5% in {took}"
        )
    if f.shares:
        fair = 1.0 / max(f.workers, 1)
        shares = ", ".join(f"{w} {s:.1%} ({s / fair:.2f}x)" for w, s in f.shares.items())
        lines.append(f"    window shares (fair {fair:.1%}): {shares}")
        outs = ", ".join(f"{w} {n}" for w, n in sorted(f.outputs_by_worker.items()))
        lines.append(f"    outputs by worker_id (whole run, from the topics): {outs}")
    if f.adaptive:
        for v in verdicts(f):
            lines.append(f"    target {v.target}: {'PASS' if v.passed else 'MISS'} ({v.measured})")
    return lines
