"""docstream bench cost on a small workload: the defaults pay at most half, same outputs."""

from __future__ import annotations

import pytest

from stream.bench.cost import CostWorkload, build_documents, run_cost_bench
from stream.bench.cost_cmd import format_cost
from stream.config import load_settings

pytestmark = pytest.mark.timeout(120)


def test_workload_has_the_issue_mix() -> None:
    """10 % exact duplicates (each after its original), 5 % replays, 5k-30k tokens."""
    docs, failing = build_documents(CostWorkload(documents=100, concurrency=4))
    texts = [d.text for d in docs]
    assert len(texts) - len(set(texts)) == 10
    assert len(failing) == 5
    assert all(5_000 * 4 <= len(t) <= 30_000 * 4 for t in texts)  # 4 characters a token


async def test_defaults_cost_at_most_half_of_naive_at_equal_output() -> None:
    """Caching, dedup and replay resume: ratio <= 0.5, identical outputs, every reuse path
    taken (cache reads, dedup hits, reused stages on replay)."""
    figures = await run_cost_bench(load_settings(), CostWorkload(documents=40, concurrency=4))
    assert figures.equal_output
    assert figures.ratio <= 0.5
    assert figures.naive.totals.cache_read_tokens == 0 and figures.naive.dedup_hits == 0
    assert figures.defaults.cache_hit_share > 0.5
    assert figures.defaults.dedup_hits == figures.duplicates
    assert figures.defaults.reused_stages == 2 * figures.replayed
    assert "ratio docstream / naive" in format_cost(figures)
