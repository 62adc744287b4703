"""The run summary shows spend split by token kind, as the metrics counted it."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from stream.cli.summary import print_summary
from stream.processor import WorkerStats
from stream.telemetry.metrics import MetricTotals
from stream.worker import WorkerReport


def test_summary_shows_cache_tokens_and_cost_by_kind() -> None:
    """Cache read/write tokens and the input/output/cache-write/cache-read dollars appear."""
    totals = MetricTotals(
        input_tokens=9_000,
        output_tokens=500,
        cache_read_tokens=6_000,
        cache_write_tokens=2_000,
        cost_usd=1.2345,
        cost_input_usd=0.5,
        cost_output_usd=0.6,
        cost_cache_write_usd=0.1245,
        cost_cache_read_usd=0.01,
    )
    report = WorkerReport(0, WorkerStats(started=0.0, results=3), 2.0, "triage", {}, totals)
    out = StringIO()
    print_summary(report, Console(file=out, width=120))
    text = out.getvalue()
    assert "6,000 / 2,000" in text
    assert "$1.2345" in text
    assert "$0.5000 / $0.6000" in text
    assert "$0.1245 / $0.0100" in text
