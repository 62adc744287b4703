"""Smoke test of ``docstream bench job``: a real toy-size job, accounting only.

Real end to end (embedded broker, simulator and worker in their own processes); only
the books and the arithmetic of the figures are asserted, never a duration.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.bench.job import JobSpec, run_job
from stream.bench.job_cmd import format_job
from stream.bench.scenarios import SCENARIOS
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.timeout(180)


async def test_job_run_reads_back_every_document_and_counts_what_the_server_saw(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    """Two jobs of 30 documents at 3000 RPM with a one-second bucket on the same worker:
    in each, every offset of that job has one output, the makespan ratio is ideal /
    makespan, and the per-second chart adds up to the requests the simulator counted
    for that job alone."""
    spec = JobSpec(SCENARIOS["steady"], documents=30, workers=1, bucket_s=1.0, jobs=2)
    figures = await run_job(settings_factory(), spec, tmp_path)
    assert [f.job for f in figures] == [1, 2]
    for fig in figures:
        books = fig.accounting
        assert (books.inputs, books.results, books.lost, books.duplicated) == (30, 30, 0, 0)
        assert books.unprocessed == 0 and sum(books.by_worker.values()) == 30
        assert fig.ideal_s == pytest.approx(1.0, abs=0.02)  # 30 fit in the full bucket
        assert fig.ratio == pytest.approx(fig.ideal_s / fig.makespan_s)
        assert 30 <= fig.requests < 60 and fig.requests == sum(r["sent"] for r in fig.timeline)
        assert sum(r["admitted"] for r in fig.timeline) == fig.requests - fig.r429 - fig.r529
        assert fig.first_call_s is not None and 0 <= fig.first_call_s <= fig.makespan_s
    assert (tmp_path / "job.json").exists()
    assert "#1 (cold)" in format_job(figures[0]) and "#2 (warm)" in format_job(figures[1])


async def test_job_cpu_is_split_by_process_and_phase_and_adds_up_to_the_workers_total(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    """Every process of the run has its CPU by phase; the worker's phases (start-up,
    idle until the first publish, job, shutdown) add up to the CPU it reported itself."""
    spec = JobSpec(SCENARIOS["steady"], documents=20, workers=1, bucket_s=1.0)
    [fig] = await run_job(settings_factory(), spec, tmp_path)
    rows = {row.name: row for row in fig.cpu}
    assert set(rows) == {"worker-0", "simulator", "bench (publisher, reader)"}
    worker = rows["worker-0"]
    assert worker.startup_s > 0 and worker.job_s > 0 and worker.after_s is not None
    phases = worker.startup_s + worker.idle_s + worker.job_s + worker.after_s
    assert phases == pytest.approx(fig.worker_cpu_s[0], abs=0.02)  # clock ticks of 10 ms
    assert all(r.idle_s >= 0 and r.job_s >= 0 for r in fig.cpu)
    assert "ms per document" in format_job(fig)
