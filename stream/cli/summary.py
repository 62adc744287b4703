"""The end-of-run summary printed by ``docstream run`` and ``docstream demo``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from stream.worker import WorkerReport

__all__ = ["print_summary"]


def print_summary(report: WorkerReport, console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    stats = report.stats
    elapsed = max(report.elapsed_s, 1e-9)
    table = Table(title=f"docstream run: pipeline {report.pipeline}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("documents processed", f"{stats.processed}")
    table.add_row("results", f"{stats.results}")
    table.add_row("dead-lettered", f"{sum(stats.dead_lettered.values())}")
    for reason, count in sorted(stats.dead_lettered.items()):
        table.add_row(f"  {reason}", f"{count}")
    outcomes = report.attempt_outcomes
    # Every attempt sent, as the caller classified it: a dead-lettered document's earlier
    # stages and repairs count too, as they do in the token and cost totals.
    table.add_row("Claude attempts", f"{sum(outcomes.values())}")
    table.add_row(
        "429 rate limited / 529 overloaded",
        f"{outcomes.get('rate_limited', 0)} / {outcomes.get('overloaded', 0)}",
    )
    totals = report.totals
    table.add_row("tokens in / out", f"{totals.input_tokens:,} / {totals.output_tokens:,}")
    table.add_row(
        "cache read / write tokens",
        f"{totals.cache_read_tokens:,} / {totals.cache_write_tokens:,}",
    )
    table.add_row("estimated cost", f"${totals.cost_usd:.4f}")
    table.add_row(
        "  input / output",
        f"${totals.cost_input_usd:.4f} / ${totals.cost_output_usd:.4f}",
    )
    table.add_row(
        "  cache write / read",
        f"${totals.cost_cache_write_usd:.4f} / ${totals.cost_cache_read_usd:.4f}",
    )
    table.add_row("elapsed", f"{elapsed:.1f} s")
    table.add_row("throughput", f"{stats.processed / elapsed:.1f} documents/s")
    table.add_row("offset commits", f"{stats.commits}")
    table.add_row("exit code", f"{report.exit_code}")
    console.print(table)
