"""``docstream publish PATH|-``: validate documents and publish them to the input topic."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from stream.cli.common import (
    CliState,
    build_settings,
    command_telemetry,
    fail,
    fail_with,
    pass_state,
)
from stream.config import Settings
from stream.errors import DocstreamError

if TYPE_CHECKING:
    from stream.publish import PublishProgress, PublishSummary
    from stream.publish_sources import Rejected

__all__ = ["publish"]

_MAX_SHOWN_REJECTIONS = 100


class _RateColumn(ProgressColumn):
    """Documents per second, from rich's own moving window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} docs/s" if speed else "", style="progress.data.speed")


@click.command("publish")
@click.argument("source", metavar="PATH|-")
@click.option("--bootstrap", help="Kafka bootstrap servers (kafka.bootstrap_servers).")
@click.option("--topic", default=None, help="Topic to publish to (default: kafka.topics.input).")
@click.option(
    "--key-field",
    default=None,
    help="Record key from this field instead of the id: a top-level field, or a metadata "
    "field (NAME or metadata.NAME).",
)
@click.option("--strict", is_flag=True, help="Stop at the first invalid document (exit 1).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--create-topics/--no-create-topics",
    default=True,
    show_default=True,
    help="Create the configured topics first if they are missing.",
)
@pass_state
def publish(
    state: CliState,
    source: str,
    bootstrap: str | None,
    topic: str | None,
    key_field: str | None,
    strict: bool,
    progress: bool | None,
    create_topics: bool,
) -> None:
    """Publish documents: a JSONL file, a directory (one document per file) or - (stdin).

    Each document is validated as the worker would; invalid ones are reported with their
    line numbers and skipped (or stop the run with --strict). Prints a summary line.
    """
    settings = build_settings(state, {"kafka.bootstrap_servers": bootstrap})
    show = sys.stderr.isatty() if progress is None else progress
    console = Console(stderr=True)
    bar = _progress_bar(console) if show else None
    task = bar.add_task("publishing", total=_total(source)) if bar is not None else None
    reporter = _Reporter(console if bar is None else bar.console)

    def on_progress(p: PublishProgress) -> None:
        reporter.last = p
        if bar is not None and task is not None:
            bar.update(task, completed=p.sent, description=f"rejected {p.rejected:,}")

    with command_telemetry(settings), bar if bar is not None else nullcontext():
        code = _run(
            settings, source, topic, key_field, strict, create_topics, reporter, on_progress
        )
        if bar is not None and task is not None and reporter.last is not None:
            done = reporter.last.sent + reporter.last.rejected
            bar.update(task, total=done, completed=done)  # blank lines made the total high
    if code:
        sys.exit(code)


def _run(
    settings: Settings,
    source: str,
    topic: str | None,
    key_field: str | None,
    strict: bool,
    create_topics: bool,
    reporter: _Reporter,
    on_progress: Callable[[PublishProgress], None],
) -> int:
    from stream.publish import PublishAborted, open_source, publish_items

    kafka = settings.kafka
    try:
        items = open_source(source, max_text_bytes=settings.processing.max_text_bytes)
    except FileNotFoundError as exc:
        fail(str(exc))

    async def go() -> PublishSummary:
        if create_topics:
            from stream.kafka.admin import ensure_topics

            await ensure_topics(kafka)
        return await publish_items(
            kafka,
            topic or kafka.topics.input,
            items,
            key_field=key_field,
            strict=strict,
            on_progress=on_progress,
            on_reject=reporter.reject,
        )

    try:
        summary = asyncio.run(go())
    except PublishAborted as exc:
        click.echo(f"docstream: --strict: {exc}", err=True)
        click.echo(exc.summary.line())
        return 1
    except DocstreamError as exc:
        fail_with(exc)
    except KeyboardInterrupt:
        sent = reporter.last.sent if reporter.last is not None else 0
        fail(f"interrupted; {sent:,} document(s) had been acknowledged", code=130)
    click.echo(summary.line())
    return 0


class _Reporter:
    """Prints rejections (the first _MAX_SHOWN_REJECTIONS) above the progress bar."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._shown = 0
        self.last: PublishProgress | None = None

    def reject(self, rejected: Rejected) -> None:
        self._shown += 1
        if self._shown <= _MAX_SHOWN_REJECTIONS:
            self._console.print(
                f"rejected {rejected}", markup=False, highlight=False, soft_wrap=True
            )
        elif self._shown == _MAX_SHOWN_REJECTIONS + 1:
            self._console.print("(further rejections are only counted in the summary)")


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _total(source: str) -> int | None:
    if source == "-":
        return None
    from stream.publish_sources import count_items

    return count_items(Path(source))
