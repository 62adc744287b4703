"""``docstream run``: consume documents, call Claude, write results and dead letters."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from stream.cli.common import (
    CliState,
    FiniteFloatRange,
    build_settings,
    command_telemetry,
    fail,
    fail_with,
    pass_state,
)
from stream.concurrency.algorithms import LIMIT_ALGORITHMS
from stream.errors import DocstreamError

__all__ = ["run"]

# After the processor's shutdown bound: closing the producer (5 s at most) and the rest.
_AFTER_RUN_S = 10.0


@click.command("run")
@click.option("--bootstrap", "bootstrap", help="Kafka bootstrap servers (kafka.bootstrap_servers).")
@click.option("--group", "group_id", help="Consumer group (kafka.group_id).")
@click.option(
    "--instance-id",
    "instance_id",
    help="Static group membership: this worker's stable id (kafka.group_instance_id).",
)
@click.option("--topic", "topic", help="Input topic (kafka.topics.input).")
@click.option(
    "--pipeline",
    help="Built-in pipeline (summarize, triage) or a pipeline YAML file.",
)
@click.option(
    "--ordering",
    type=click.Choice(["unordered", "key", "partition"]),
    help="Processing order within a partition.",
)
@click.option("--concurrency", type=click.IntRange(min=1), help="Initial concurrency limit.")
@click.option("--max-concurrency", type=click.IntRange(min=1), help="Upper concurrency limit.")
@click.option(
    "--limit-algorithm",
    type=click.Choice(list(LIMIT_ALGORITHMS)),
    help="Concurrency limit algorithm.",
)
@click.option("--max-documents", type=click.IntRange(min=1), help="Stop after N documents.")
@click.option(
    "--until-idle",
    type=FiniteFloatRange(min=0.1),
    help="Exit 0 after SECONDS with nothing to consume and nothing in flight.",
)
@click.option("--progress/--no-progress", default=False, help="Live terminal panel.")
@click.option(
    "--http-port",
    type=click.IntRange(0, 65_535),
    help="Serve /livez, /readyz and Prometheus /metrics on this port (telemetry.http_port).",
)
@click.option(
    "--telemetry",
    type=click.Choice(["none", "console", "otlp"]),
    help="Telemetry export (OTLP is configured by the OTEL_* variables).",
)
@pass_state
def run(
    state: CliState,
    bootstrap: str | None,
    group_id: str | None,
    instance_id: str | None,
    topic: str | None,
    pipeline: str | None,
    ordering: str | None,
    concurrency: int | None,
    max_concurrency: int | None,
    limit_algorithm: str | None,
    max_documents: int | None,
    until_idle: float | None,
    progress: bool,
    http_port: int | None,
    telemetry: str | None,
) -> None:
    """Process documents from the input topic until stopped (SIGTERM/SIGINT drain and commit)."""
    from stream.cli.summary import print_summary
    from stream.pipeline import BUILTIN_PIPELINES
    from stream.processor import EXIT_SHUTDOWN_STUCK, SHUTDOWN_GRACE_S, StopPolicy
    from stream.watchdog import ShutdownWatchdog
    from stream.worker import run_worker

    settings = build_settings(
        state,
        {
            "kafka.bootstrap_servers": bootstrap,
            "kafka.group_id": group_id,
            "kafka.group_instance_id": instance_id,
            "kafka.topics.input": topic,
            "processing.ordering": ordering,
            "limits.initial_concurrency": concurrency,
            "limits.max_concurrency": max_concurrency,
            "limits.algorithm": limit_algorithm,
            "telemetry.exporter": telemetry,
            "telemetry.http_port": http_port,
        },
    )
    if pipeline is not None and pipeline not in BUILTIN_PIPELINES and not Path(pipeline).exists():
        builtins = ", ".join(BUILTIN_PIPELINES)
        fail(f"--pipeline {pipeline}: no such file and not a built-in ({builtins})")
    # The processor gives up its shutdown at drain + SHUTDOWN_GRACE_S; what follows (the
    # producer, the Claude client, telemetry, the event loop) gets _AFTER_RUN_S more.
    watchdog = ShutdownWatchdog(
        settings.processing.drain_deadline_s + SHUTDOWN_GRACE_S + _AFTER_RUN_S,
        EXIT_SHUTDOWN_STUCK,
    )
    try:
        serving = settings.telemetry.http_port is not None
        with command_telemetry(settings, prometheus=serving) as handle:
            report = asyncio.run(
                run_worker(
                    settings,
                    stop=StopPolicy(max_documents=max_documents, until_idle_s=until_idle),
                    pipeline=pipeline,
                    progress=progress,
                    metrics_page=handle.prometheus_page if serving else None,
                    on_signal=watchdog.arm,
                    freeze_gc=True,  # this process is the worker's alone
                )
            )
    except DocstreamError as exc:
        fail_with(exc)
    finally:
        watchdog.disarm()
    print_summary(report)
    raise SystemExit(report.exit_code)
