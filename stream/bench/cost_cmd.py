"""The ``docstream bench cost`` command and its report (the runs are in ``cost``)."""

from __future__ import annotations

import asyncio

import click

from stream.bench.cost import CostFigures, CostRun, CostWorkload, run_cost_bench
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
        *(_run_line(f, run) for run in (f.naive, f.defaults)),
        f"  ratio docstream / naive: {f.ratio:.3f} (target <= {TARGET_RATIO:g}: {verdict}); "
        f"outputs equal: {'yes' if f.equal_output else 'NO'}",
        f"  cache hit share (prompt tokens read from cache): {f.defaults.cache_hit_share:.1%}; "
        f"dedup share: {f.defaults.dedup_hits / w.documents:.1%} of documents; "
        f"stages reused on replay: {f.defaults.reused_stages}",
        f"  dedup index memory (measured): {f.position_bytes_per_entry:,.0f} bytes per "
        f"entry as the worker keeps it (key, time, Kafka position) = "
        f"{f.position_bytes_per_entry:,.0f} MB per million entries; "
        f"{f.index_bytes_per_entry:,.0f} bytes per entry while it still holds these outputs",
    ]
    return "\n".join(lines)


def _run_line(f: CostFigures, run: CostRun) -> str:
    t = run.totals
    return (
        f"  {run.name:<9} ${f.per_1000(run):8.2f} per 1,000 documents  "
        f"(${t.cost_usd:.4f} total: input ${t.cost_input_usd:.4f}, output "
        f"${t.cost_output_usd:.4f}, cache write ${t.cost_cache_write_usd:.4f}, cache read "
        f"${t.cost_cache_read_usd:.4f}; {run.calls} calls, {t.input_tokens:,} prompt tokens, "
        f"{run.seconds:.1f} s)"
    )


@click.command("cost")
@click.option("--documents", default=200, show_default=True, type=click.IntRange(min=20))
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--model", default="claude-sonnet-4-6", show_default=True)
@click.option("--seed", default=7, show_default=True, type=int)
@pass_state
def command(state: CliState, documents: int, concurrency: int, model: str, seed: int) -> None:
    """$ per 1,000 documents: naive (full price) vs docstream (defaults + dedup), and the ratio."""
    settings = build_settings(state)
    workload = CostWorkload(documents=documents, concurrency=concurrency, model=model, seed=seed)
    figures = asyncio.run(run_cost_bench(settings, workload))
    click.echo(format_cost(figures))
