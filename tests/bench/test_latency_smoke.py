"""Smoke test of ``docstream bench latency`` at toy size: figures, never a duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.bench.latency import percentile, run_latency
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.timeout(120)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([], 0.5) == 0.0


async def test_latency_run_reads_back_every_document_it_publishes(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    """Five documents one at a time through a real worker: every one is read back, and
    the broker's acknowledgement never comes after the result."""
    figures = await run_latency(settings_factory(), 5, tmp_path)
    assert figures.documents == 5
    assert 0 < figures.ack_ms["p50"] <= figures.result_ms["p50"]
    assert figures.result_ms["p50"] <= figures.result_ms["max"]
    assert (tmp_path / "latency.json").exists()
