"""The ``docstream bench cost`` command and its report (the runs are in ``cost``)."""

from __future__ import annotations

import asyncio

import click

from stream.bench.cost import DEFAULTS, CostFigures, CostRun, CostWorkload, run_cost_bench
from stream.cli.common import CliState, build_settings, pass_state

__all__ = ["command", "format_cost"]

TARGET_RATIO = 0.5  # issue 14: at most half the naive cost per document


def format_cost(f: CostFigures) -> str:
    w = f.workload
    verdict = "PASS" if f.ratio <= TARGET_RATIO and f.equal_output else "MISS"
    lines = [
        f"bench cost: {w.documents} documents of {w.min_tokens:,}-{w.max_tokens:,} tokens, "
        f"3 stages, {w.model}; {f.duplicates} exact duplicates, {f.replayed} replayed from "
        "the DLQ after their last stage failed",
        f"  {'run':<15} {'$ / 1,000 docs':>14} {'/ naive':>8} {'cache hit':>10} {'dedup':>7}",
        *(_table_row(f, run) for run in f.runs),
        f"  target: {DEFAULTS} <= {TARGET_RATIO:g} x naive: {verdict} ({f.ratio:.3f}); "
        f"outputs equal in every run: {'yes' if f.equal_output else 'NO'}",
        "  (cache hit: prompt tokens read from cache; dedup: documents served from the index)",
        *(_books_line(run) for run in f.runs),
        "  stages reused on replay: "
        + ", ".join(f"{run.name} {run.reused_stages}" for run in f.runs),
        f"  dedup index memory (measured): {f.position_bytes_per_entry:,.0f} bytes per "
        f"entry as the worker keeps it (key, time, Kafka position) = "
        f"{f.position_bytes_per_entry:,.0f} MB per million entries; "
        f"{f.index_bytes_per_entry:,.0f} bytes per entry while it still holds these outputs",
    ]
    return "\n".join(lines)


def _table_row(f: CostFigures, run: CostRun) -> str:
    return (
        f"  {run.name:<15} {f.per_1000(run):>14,.2f} {f.ratio_of(run):>8.3f} "
        f"{run.cache_hit_share:>10.1%} {f.dedup_share(run):>7.1%}"
    )


def _books_line(run: CostRun) -> str:
    t = run.totals
    return (
        f"  {run.name}: ${t.cost_usd:.4f} total: input ${t.cost_input_usd:.4f}, output "
        f"${t.cost_output_usd:.4f}, cache write ${t.cost_cache_write_usd:.4f}, cache read "
        f"${t.cost_cache_read_usd:.4f}; {run.calls} calls, {t.input_tokens:,} prompt tokens, "
        f"{run.seconds:.1f} s"
    )


@click.command("cost")
@click.option("--documents", default=200, show_default=True, type=click.IntRange(min=20))
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--model", default="claude-sonnet-4-6", show_default=True)
@click.option("--seed", default=7, show_default=True, type=int)
@pass_state
def command(state: CliState, documents: int, concurrency: int, model: str, seed: int) -> None:
    """$ per 1,000 documents: naive (full price), the defaults, the defaults + dedup."""
    settings = build_settings(state)
    workload = CostWorkload(documents=documents, concurrency=concurrency, model=model, seed=seed)
    figures = asyncio.run(run_cost_bench(settings, workload))
    click.echo(format_cost(figures))
