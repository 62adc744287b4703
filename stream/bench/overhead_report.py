"""The figures of ``docstream bench overhead``: the report, its text and JSON forms, and
the worker's cProfile hot spots.

Kept apart from the runner so the arithmetic (documents/s, CPU per document, ratios to
the design.md section 8 targets) lives in one small place that reads like the table it
prints.
"""

from __future__ import annotations

import pstats
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stream.bench.overhead_worker import WorkerMeasurement

__all__ = [
    "TARGET_DOCS_PER_S",
    "TARGET_RSS_MB",
    "Accounting",
    "HotSpot",
    "OverheadReport",
    "format_report",
    "hot_spots",
    "report_json",
]

TARGET_DOCS_PER_S = 1_500
TARGET_RSS_MB = 300


@dataclass(frozen=True, slots=True)
class Accounting:
    """Outputs joined back to the published input offsets."""

    inputs: int
    results: int
    dead_letters: int
    missing: int  # published offsets with no output
    duplicated: int  # published offsets with more than one output
    unexpected: int  # outputs naming an offset that was never published
    distinct_ids: int  # distinct document ids among the results
    committed_to_end: bool  # the group's commits reached the end of every partition

    @property
    def ok(self) -> bool:
        """Every published offset produced exactly one output, and nothing else appeared."""
        return (
            self.missing == 0
            and self.duplicated == 0
            and self.unexpected == 0
            and self.results + self.dead_letters == self.inputs
        )


@dataclass(frozen=True, slots=True)
class OverheadReport:
    mode: str  # "throughput" | "memory"
    pipeline: str
    partitions: int
    documents: int
    text_bytes: int
    broker: str  # "embedded" | the bootstrap servers used
    publish_s: float
    worker: WorkerMeasurement
    accounting: Accounting
    broker_cpu_s: float | None  # embedded broker CPU while the worker process ran

    @property
    def docs_per_s(self) -> float:
        w = self.worker
        return w.processed / w.window_s if w.window_s > 0 else 0.0

    @property
    def cpu_us_per_doc(self) -> float:
        w = self.worker
        return w.cpu_s / w.processed * 1e6 if w.processed else 0.0

    @property
    def cpu_bound_docs_per_s(self) -> float:
        """What one fully available core would do at the measured CPU cost per document."""
        return 1e6 / self.cpu_us_per_doc if self.cpu_us_per_doc else 0.0

    @property
    def throughput_ratio(self) -> float:
        """Measured / target; >= 1 meets the target."""
        return self.docs_per_s / TARGET_DOCS_PER_S

    @property
    def rss_ratio(self) -> float:
        """Peak RSS / budget; <= 1 meets the target."""
        return self.worker.peak_rss_mb / TARGET_RSS_MB


@dataclass(frozen=True, slots=True)
class HotSpot:
    function: str
    calls: int
    own_s: float  # tottime
    cumulative_s: float


def hot_spots(path: Path, limit: int = 20) -> list[HotSpot]:
    """The functions with the most own time in a pstats file (cProfile inflates them all)."""
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = _short(filename)
        rows.append(HotSpot(f"{where}:{line}({name})", calls, own, cumulative))
    rows.sort(key=lambda r: r.own_s, reverse=True)
    return rows[:limit]


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    at = filename.find("/stream/")
    return filename[at + 1 :] if at >= 0 else filename


def report_json(report: OverheadReport, cprofile: Path | None = None) -> dict[str, Any]:
    """Everything measured, plus the derived figures, as plain JSON data."""
    data: dict[str, Any] = {
        "mode": report.mode,
        "pipeline": report.pipeline,
        "partitions": report.partitions,
        "documents": report.documents,
        "text_bytes": report.text_bytes,
        "broker": report.broker,
        "publish_s": round(report.publish_s, 4),
        "docs_per_s": round(report.docs_per_s, 1),
        "cpu_us_per_doc": round(report.cpu_us_per_doc, 1),
        "cpu_bound_docs_per_s": round(report.cpu_bound_docs_per_s, 1),
        "peak_rss_mb": round(report.worker.peak_rss_mb, 1),
        "target_docs_per_s": TARGET_DOCS_PER_S,
        "throughput_ratio": round(report.throughput_ratio, 3),
        "target_rss_mb": TARGET_RSS_MB,
        "rss_ratio": round(report.rss_ratio, 3),
        "broker_cpu_s": report.broker_cpu_s,
        "accounting_ok": report.accounting.ok,
        "stalled": report.worker.stalled,
        "stalled_at_shutdown": report.worker.stalled_at_shutdown,
        "accounting": asdict(report.accounting),
        "worker": asdict(report.worker),
    }
    if cprofile is not None and cprofile.exists():
        data["hot_spots"] = [asdict(h) for h in hot_spots(cprofile)]
    return data


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def format_report(report: OverheadReport, cprofile: Path | None = None) -> str:
    """The human-readable table the command prints."""
    w, books = report.worker, report.accounting
    lines = [
        f"docstream bench overhead ({report.mode} mode): pipeline {report.pipeline}, one worker "
        "process, InstantClaudeClient at the Claude seam",
        f"  broker            {report.broker}, {report.partitions} partitions",
        f"  published         {report.documents:,} documents (~{report.text_bytes:,}-byte text) "
        f"in {report.publish_s:.2f} s ({report.documents / max(report.publish_s, 1e-9):,.0f}/s)",
        f"  worker            group join {w.join_s:.2f} s (excluded), measured window "
        f"{w.window_s:.2f} s, process total {w.total_s:.2f} s, exit code {w.exit_code}",
        f"  throughput        {report.docs_per_s:,.0f} documents/s; target >= "
        f"{TARGET_DOCS_PER_S:,} -> ratio {report.throughput_ratio:.2f} "
        f"({_verdict(report.throughput_ratio >= 1)})",
        f"  CPU per document  {report.cpu_us_per_doc:,.0f} us (user {w.cpu_user_s:.2f} s, "
        f"system {w.cpu_sys_s:.2f} s; {w.cpu_s / max(w.window_s, 1e-9):.2f} cores busy)",
        f"  time in window    on CPU {w.cpu_s:.2f} s, runnable but waiting for a CPU "
        f"{w.run_queue_s:.2f} s, waiting on I/O {_idle(w):.2f} s; CPU-bound ceiling "
        f"{report.cpu_bound_docs_per_s:,.0f} documents/s",
        f"  in flight         {w.inflight_mean:,.0f} records on average (buffer_size caps it); "
        f"nothing in flight {w.starved_fraction:.0%} of the time (waiting for fetches)",
        f"  peak RSS          {w.peak_rss_mb:.1f} MB (ru_maxrss); sampled VmRSS max "
        f"{_mb(w.sampled_rss_max_mb)}; target <= {TARGET_RSS_MB} MB -> ratio "
        f"{report.rss_ratio:.2f} ({_verdict(report.rss_ratio <= 1)})",
        "  RSS by progress   "
        + "  ".join(f"{n * 100 // max(w.expected, 1)}%:{mb:.0f}" for n, mb in w.rss_by_progress),
    ]
    if report.broker_cpu_s is not None:
        lines.append(f"  broker CPU        {report.broker_cpu_s:.2f} s while the worker ran")
    lines += _accounting_lines(books, w)
    if cprofile is not None and cprofile.exists():
        lines += _hot_spot_lines(cprofile, max(w.processed, 1))
    return "\n".join(lines)


def _idle(w: WorkerMeasurement) -> float:
    return max(w.window_s - w.cpu_s - w.run_queue_s, 0.0)


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} MB"


def _accounting_lines(books: Accounting, w: WorkerMeasurement) -> list[str]:
    summary = (
        f"{books.inputs:,} inputs -> {books.results:,} results + {books.dead_letters:,} dead "
        f"letters; missing {books.missing}, duplicated {books.duplicated}, unexpected "
        f"{books.unexpected}; commits at the end of every partition: "
        f"{'yes' if books.committed_to_end else 'no'}"
    )
    lines = [f"  accounting        {summary} ({'OK' if books.ok else 'FAILED'})"]
    if w.dead_lettered:
        lines.append(f"  dead letters      {w.dead_lettered}")
    if w.stalled:
        lines.append(
            f"  !!! WORKER STALLED: {w.dispatched - w.processed} dispatched records stopped "
            "completing; it was cancelled (task stacks on stderr)"
        )
    if w.stalled_at_shutdown:
        lines.append(
            "  !!! WORKER HUNG AT SHUTDOWN: every record completed but run_worker did not "
            "return; it was cancelled (task stacks on stderr)"
        )
    if not books.ok:
        lines += [
            "  " + "!" * 76,
            f"  !!! DOCUMENTS LOST OR DUPLICATED: {books.missing} missing, {books.duplicated} "
            f"duplicated, {books.unexpected} unexpected. The figures above are NOT valid.",
            "  " + "!" * 76,
        ]
    return lines


def _hot_spot_lines(path: Path, documents: int) -> list[str]:
    lines = [
        f"  cProfile hot spots (own time; profiling inflates every figure) from {path}:",
        f"    {'own s':>7} {'us/doc':>7} {'cum s':>7} {'calls':>9}  function",
    ]
    for spot in hot_spots(path):
        lines.append(
            f"    {spot.own_s:7.2f} {spot.own_s / documents * 1e6:7.1f} "
            f"{spot.cumulative_s:7.2f} {spot.calls:9,}  {spot.function}"
        )
    return lines
