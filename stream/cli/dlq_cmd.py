"""``docstream dlq inspect`` and ``docstream dlq replay``.

Each subcommand parses flags, builds Settings and calls one function
(``stream.dlq.inspect.inspect_dlq`` / ``stream.dlq.replay.replay``); the output is
drawn by ``stream.cli.dlq_render``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

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
from stream.config import Settings
from stream.dlq.filters import ReplayFilters, TimeBound
from stream.errors import DLQ_OUTCOMES, DocstreamError

if TYPE_CHECKING:
    from stream.dlq.replay import ReplaySummary

__all__ = ["dlq"]

F = TypeVar("F", bound=Callable[..., Any])

_OUTCOMES = [o.value for o in DLQ_OUTCOMES]
EXIT_INTERRUPTED = 130


def _filter_options(func: F) -> F:
    """The selection flags shared by inspect and replay."""
    options = [
        click.option("--bootstrap", help="Kafka bootstrap servers."),
        click.option("--topic", help="DLQ topic (default kafka.topics.dlq)."),
        click.option(
            "--outcome",
            "outcomes",
            multiple=True,
            type=click.Choice(_OUTCOMES),
            help="Only this outcome (repeatable).",
        ),
        click.option(
            "--error-class",
            "error_classes",
            multiple=True,
            help="Only this error class, e.g. invalid_json, prompt_too_long (repeatable).",
        ),
        click.option("--stage", "stages", multiple=True, help="Only this pipeline stage."),
        click.option("--since", help="Last failure at or after: ISO time or an age (2h, 30m)."),
        click.option("--until", help="Last failure at or before: ISO time or an age."),
        click.option("--key", "keys", multiple=True, help="Only this record key (repeatable)."),
        click.option(
            "--id",
            "ids",
            multiple=True,
            help="Only this document id: the key, or the JSON id (repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(params: dict[str, Any], limit: int | None = None) -> ReplayFilters:
    try:
        since = TimeBound.parse(params["since"]) if params["since"] else None
        until = TimeBound.parse(params["until"]) if params["until"] else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return ReplayFilters(
        outcomes=tuple(params["outcomes"]),
        error_classes=tuple(params["error_classes"]),
        stages=tuple(params["stages"]),
        keys=tuple(params["keys"]),
        ids=tuple(params["ids"]),
        since=since,
        until=until,
        limit=limit,
    )


def _settings(state: CliState, params: dict[str, Any]) -> Settings:
    return build_settings(
        state, {"kafka.bootstrap_servers": params["bootstrap"], "kafka.topics.dlq": params["topic"]}
    )


@click.group("dlq")
def dlq() -> None:
    """Inspect and replay the dead-letter queue."""


@dlq.command("inspect")
@_filter_options
@click.option("--show", type=click.IntRange(min=0), default=0, help="Show N recent records.")
@click.option(
    "--show-values",
    is_flag=True,
    help="With --show: add the value's size and a short preview (document text!).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def inspect_cmd(state: CliState, /, show: int, show_values: bool, fmt: str, **params: Any) -> None:
    """Count DLQ records by outcome, error class, stage, model and hour of last failure."""
    from stream.cli.dlq_render import render_report
    from stream.dlq.inspect import inspect_dlq

    settings = _settings(state, params)
    filters = _filters(params)
    try:
        with command_telemetry(settings):
            report = asyncio.run(inspect_dlq(settings, filters, show=show, show_values=show_values))
    except DocstreamError as exc:
        fail_with(exc)
    except OSError as exc:
        fail(str(exc), code=1)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render_report(report)


@dlq.command("replay")
@_filter_options
@click.option("--limit", type=click.IntRange(min=0), help="Replay at most N documents.")
@click.option("--to", "to", help="Send to this topic instead of each record's original topic.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; send nothing.")
@click.option("--rate", type=FiniteFloatRange(min=0, min_open=True), help="Documents per second.")
@click.option("--force", is_flag=True, help="Also replay documents at processing.max_replays.")
@click.option("--group", help="Consumer group for the replay position (default: per filter set).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal.")
@pass_state
def replay_cmd(
    state: CliState,
    /,
    limit: int | None,
    to: str | None,
    dry_run: bool,
    rate: float | None,
    force: bool,
    group: str | None,
    fmt: str,
    progress: bool,
    **params: Any,
) -> None:
    """Send DLQ records back to their original topic, at most once per filter set.

    The position is kept in a consumer group on the DLQ topic, by default
    <kafka.group_id>.replay (no filters) or <kafka.group_id>.replay.<hash of the filters>,
    so running the same command again replays only what arrived since.
    """
    from stream.cli.dlq_render import ProgressBar, render_summary
    from stream.dlq.replay import replay as run_replay

    settings = _settings(state, params)
    filters = _filters(params, limit)
    bar = ProgressBar(enabled=progress and fmt == "table")
    try:
        with command_telemetry(settings), bar:
            summary = asyncio.run(
                run_replay(
                    settings,
                    filters,
                    to=to,
                    dry_run=dry_run,
                    rate=rate,
                    force=force,
                    group=group,
                    on_progress=bar.update,
                )
            )
    except KeyboardInterrupt:
        fail(
            "interrupted: what was acknowledged is committed; run again to continue",
            EXIT_INTERRUPTED,
        )
    except DocstreamError as exc:
        fail_with(exc)
    except OSError as exc:
        fail(str(exc), code=1)
    if fmt == "json":
        click.echo(json.dumps(summary_dict(summary), indent=2, default=str))
    else:
        render_summary(summary)


def summary_dict(summary: ReplaySummary) -> dict[str, Any]:
    """A ReplaySummary as JSON-ready data (datetimes become strings in json.dumps)."""
    data: dict[str, Any] = asdict(summary)
    return data
