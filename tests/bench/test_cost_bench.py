"""docstream bench cost on a small workload: the defaults pay at most half, same outputs."""

from __future__ import annotations

import pytest

from stream.bench.cost import (
    VARIANTS,
    CostFigures,
    CostRun,
    CostWorkload,
    build_documents,
    run_cost_bench,
)
from stream.bench.cost_cmd import format_cost
from stream.config import ProcessingSettings, load_settings
from stream.telemetry.metrics import MetricTotals

pytestmark = pytest.mark.timeout(120)


def test_workload_has_the_issue_mix() -> None:
    """10 % exact duplicates (each after its original), 5 % replays, 5k-30k tokens."""
    docs, failing = build_documents(CostWorkload(documents=100, concurrency=4))
    texts = [d.text for d in docs]
    assert len(texts) - len(set(texts)) == 10
    assert len(failing) == 5
    assert all(5_000 * 4 <= len(t) <= 30_000 * 4 for t in texts)  # 4 characters a token


async def test_defaults_cost_at_most_half_of_naive_at_equal_output() -> None:
    """Three runs at equal outputs: the defaults as shipped (dedup off, so no dedup hit)
    pay at most half of naive by caching and replay resume alone; adding dedup serves
    every duplicate from the index and costs less again."""
    figures = await run_cost_bench(load_settings(), CostWorkload(documents=40, concurrency=4))
    assert [run.name for run in figures.runs] == ["naive", "defaults", "defaults+dedup"]
    assert figures.equal_output
    naive, defaults, with_dedup = figures.runs
    assert naive.totals.cache_read_tokens == 0 and naive.dedup_hits == 0
    assert naive.reused_stages == 0
    assert figures.defaults is defaults and figures.ratio <= 0.5
    assert defaults.dedup_hits == 0 and figures.dedup_share(defaults) == 0.0
    assert defaults.cache_hit_share > 0.5
    assert defaults.reused_stages == 2 * figures.replayed
    assert with_dedup.dedup_hits == figures.duplicates
    assert figures.ratio_of(with_dedup) < figures.ratio
    assert with_dedup.reused_stages == 2 * figures.replayed


def test_defaults_row_uses_the_worker_default_for_dedup() -> None:
    """The row the target is judged on is what a user who changes nothing gets."""
    assert VARIANTS[1].name == "defaults"
    assert VARIANTS[1].dedup is ProcessingSettings().dedup
    assert not VARIANTS[1].full_price


def test_report_has_a_row_per_run_with_ratio_and_shares() -> None:
    """Each row: $ per 1,000 documents, ratio to naive, cache hit share, dedup share."""
    runs = tuple(_run(name, cost, read, hits) for name, cost, read, hits in _ROWS)
    figures = CostFigures(CostWorkload(documents=100), runs, 10, 5, 3000.0, 200.0)
    table = format_cost(figures).splitlines()
    assert "naive 2,000.00 1.000 0.0% 0.0%" in _squeeze(table)
    assert "defaults 900.00 0.450 60.0% 0.0%" in _squeeze(table)
    assert "defaults+dedup 800.00 0.400 50.0% 10.0%" in _squeeze(table)
    assert "target: defaults <= 0.5 x naive: PASS (0.450)" in "\n".join(table)


_ROWS = (("naive", 200.0, 0, 0), ("defaults", 90.0, 600, 0), ("defaults+dedup", 80.0, 500, 10))


def _run(name: str, cost: float, cache_read: int, hits: int) -> CostRun:
    totals = MetricTotals(cost_usd=cost, input_tokens=1000, cache_read_tokens=cache_read)
    return CostRun(name, totals, 0, hits, 0, {}, 0.0)


def _squeeze(lines: list[str]) -> list[str]:
    return [" ".join(line.split()) for line in lines]
