"""The ``docstream bench job`` command and its text report (the run is in ``job``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from stream.bench.job import JobFigures, JobSpec, bench_overrides, run_job
from stream.bench.scenarios import SCENARIOS
from stream.cli.common import CliState, build_settings, fail, pass_state
from stream.concurrency.algorithms import LIMIT_ALGORITHMS
from stream.embedded import EmbeddedBroker
from stream.errors import DocstreamError

__all__ = ["command", "format_job"]

# design.md section 8 / issue 11: makespan ratio targets per scenario
TARGET_RATIO = {"overload": 0.92}
_DEFAULT_RATIO = 0.97
_BAR_WIDTH = 40


def format_job(f: JobFigures) -> str:
    """The figures, the targets (PASS/MISS) and a per-second chart."""
    target = TARGET_RATIO.get(f.scenario, _DEFAULT_RATIO)
    books = f.accounting
    first = "-" if f.first_call_s is None else f"{f.first_call_s:.3f} s"
    lines = [
        f"job {f.scenario} #{f.job} ({'cold' if f.job == 1 else 'warm'}): {f.documents} "
        f"documents, {f.workers} worker(s), {f.algorithm}, bucket {f.bucket_s:g} s",
        f"  makespan {f.makespan_s:.2f} s, ideal {f.ideal_s:.2f} s, ratio {f.ratio:.3f} "
        f"(target >= {target:g}: {_verdict(f.ratio >= target)})",
        f"  first call {first} after the first publish; publish took {f.publish_s:.3f} s",
        f"  requests {f.requests}: 429s {f.r429} ({f.pct_429:.2f} %, target <= 1 %: "
        f"{_verdict(f.pct_429 <= 1.0)}), 529s {f.r529} ({f.pct_529:.2f} %, target <= 2 %: "
        f"{_verdict(f.pct_529 <= 2.0)}), other 5xx {f.r5xx}",
        f"  books: results {books.results}, DLQ {books.dead_letters}, lost {books.lost}, "
        f"duplicated {books.duplicated}, unprocessed {books.unprocessed}; "
        f"by worker {dict(sorted(books.by_worker.items()))}",
        f"  worker CPU {', '.join(f'{c:.2f}' for c in f.worker_cpu_s)} s "
        f"({_per_doc(f):.1f} ms per document, start-up included)",
        *_cpu_lines(f),
        "  per second (t from the first publish): sent / admitted / ideal admitted, 429, 529",
    ]
    peak = max([1.0, *(max(r["sent"], r["ideal"]) for r in f.timeline)])
    for row in f.timeline:
        bar = "#" * round(_BAR_WIDTH * row["admitted"] / peak)
        lines.append(
            f"  {row['t']:6.1f} {row['sent']:5.0f} {row['admitted']:5.0f} {row['ideal']:6.1f}"
            f" {row['429']:4.0f} {row['529']:4.0f} {bar}"
        )
    return "\n".join(lines)


def _cpu_lines(f: JobFigures) -> list[str]:
    """CPU by process: start-up, idle until the job, the job (and ms per document)."""
    if not f.cpu:
        return []
    lines = ["  CPU s by process: start-up | idle until t0 | job (ms per document) | after"]
    for row in f.cpu:
        after = "" if row.after_s is None else f" | {row.after_s:.2f}"
        lines.append(
            f"    {row.name}: {row.startup_s:.2f} | {row.idle_s:.2f} | {row.job_s:.2f} "
            f"({1000.0 * row.job_s / f.documents:.2f}){after}"
        )
    total = sum(row.job_s for row in f.cpu)
    lines.append(f"    all: job {total:.2f} s ({1000.0 * total / f.documents:.2f} ms per document)")
    return lines


def _per_doc(f: JobFigures) -> float:
    return 1000.0 * sum(f.worker_cpu_s) / f.documents if f.documents else 0.0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@click.command("job")
@click.argument("scenario", type=click.Choice(sorted(SCENARIOS)))
@click.option("--documents", type=click.IntRange(min=1), help="Job size (default 500; tight 200).")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Worker processes (default: scenario's)."
)
@click.option(
    "--bucket-s",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 60, min_open=True),
    help="Seconds of allowance the server's rate-limit bucket holds (60 = a minute).",
)
@click.option(
    "--algorithm",
    type=click.Choice(list(LIMIT_ALGORITHMS)),
    default="aimd",
    show_default=True,
)
@click.option(
    "--jobs",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Jobs in a row on the same workers: the first cold, the others warm.",
)
@click.option(
    "--backlog-board/--no-backlog-board",
    default=False,
    show_default=True,
    help="Share the account by the workers' backlogs (limits.backlog_board).",
)
@click.option("--partitions", default=6, show_default=True, type=click.IntRange(min=1))
@click.option("--bootstrap", default=None, help="Use this Kafka cluster, not the embedded.")
@click.option(
    "--out",
    "out_dir",
    default=Path("bench-out"),
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_state
def command(
    state: CliState,
    scenario: str,
    documents: int | None,
    workers: int | None,
    bucket_s: float,
    algorithm: str,
    jobs: int,
    backlog_board: bool,
    partitions: int,
    bootstrap: str | None,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Makespan of jobs: N documents at once to assigned workers, to the last result."""
    chosen = SCENARIOS[scenario]
    spec = JobSpec(
        scenario=chosen,
        documents=documents or (200 if scenario == "tight" else 500),
        workers=workers or chosen.workers,
        bucket_s=bucket_s,
        algorithm=algorithm,
        jobs=jobs,
    )
    broker = EmbeddedBroker() if bootstrap is None else None
    try:
        address = broker.start() if broker is not None else str(bootstrap)
        overrides = bench_overrides(address, broker is not None, partitions)
        overrides["limits.backlog_board"] = backlog_board
        base = build_settings(state, overrides)
        out = out_dir / f"job-{scenario}-{spec.workers}w-{spec.bucket_s:g}s"
        pid = broker.pid if broker is not None else None
        figures = asyncio.run(run_job(base, spec, out, broker_pid=pid))
    except DocstreamError as exc:
        fail(str(exc), code=1)
    finally:
        if broker is not None:
            broker.stop()
    if as_json:
        click.echo(json.dumps([f.as_json() for f in figures], indent=2))
    else:
        click.echo("\n\n".join(format_job(f) for f in figures))
    if any(f.lost for f in figures):
        raise SystemExit(1)
