"""Terminal output of ``docstream dlq``: the inspection tables, the replay summary and the
replay progress bar (rich, on stderr, only when stderr is a terminal)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from stream.dlq.inspect import DlqReport, Sample
from stream.dlq.replay import ReplayProgress, ReplaySummary
from stream.dlq.republish import ReplayItem

__all__ = ["ProgressBar", "render_report", "render_summary"]

_LISTED = 50  # items listed in a table before "... and N more"
_PIPE_WIDTH = 160


def _out() -> Console:
    """stdout; when it is not a terminal (a pipe, a file) tables get room instead of 80
    columns, so ids and topic names are not cut."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=_PIPE_WIDTH)
    return console


def render_report(report: DlqReport) -> None:
    console = _out()
    if report.total == 0:
        console.print(f"[bold]{report.topic}[/]: no records (empty, or no such topic)")
        return
    console.print(
        f"[bold]{report.topic}[/]: {report.total} records, {report.matched} selected "
        f"({report.filters}), {report.invalid} without docstream headers"
    )
    for name, counts in report.breakdowns().items():
        if not counts:
            continue
        table = Table(title=f"by {name.replace('_', ' ')}", title_justify="left")
        table.add_column(name)
        table.add_column("records", justify="right")
        rows = sorted(counts.items()) if name == "hour" else counts.most_common()
        for value, count in rows:
            table.add_row(value, str(count))
        console.print(table)
    for sample in report.samples:
        console.print(_sample_table(sample))


def _sample_table(sample: Sample) -> Table:
    table = Table(title=sample.source, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("document id", sample.document_id or "-")
    table.add_row("key", sample.key if sample.key is not None else "(null)")
    if sample.problem:
        table.add_row("problem", sample.problem)
    for name, value in sample.context.items():
        if value is not None:
            table.add_row(name, str(value))
    for name, value in sample.other_headers.items():
        table.add_row(f"header {name}", value)
    table.add_row("value", f"{sample.value_bytes} bytes")
    if sample.preview is not None:
        table.add_row("preview", sample.preview)
    return table


def render_summary(summary: ReplaySummary) -> None:
    console = _out()
    dry = summary.mode == "dry_run"
    verb = "would replay" if dry else "replayed"
    count = len(summary.dry_run) if dry else summary.replayed
    console.print(
        f"[bold]{summary.dlq_topic}[/] group [bold]{summary.group}[/] ({summary.filters}): "
        f"examined {summary.examined}, {verb} {count}, "
        f"skipped (max replays) {summary.skipped_max_replays}, "
        f"filtered out {summary.filtered_out}, invalid {summary.invalid}"
    )
    for topic, sent in sorted(summary.by_target.items()):
        console.print(f"  -> {topic}: {sent}")
    if summary.limit_reached:
        console.print("limit reached: more records match; run again to continue")
    if summary.deferred_partitions:
        parts = ", ".join(str(p) for p in summary.deferred_partitions)
        console.print(f"partitions {parts} stopped at a record newer than --until")
    if dry:
        _items(console, "would replay", summary.dry_run)
        console.print("dry run: nothing sent, nothing committed")
    _items(
        console, "skipped: replay count at processing.max_replays (use --force)", summary.skipped
    )


def _items(console: Console, title: str, items: tuple[ReplayItem, ...]) -> None:
    if not items:
        return
    table = Table(title=title, title_justify="left")
    for column in ("dlq record", "document", "outcome/class", "last failure", "replays", "to"):
        table.add_column(column)
    for item in items[:_LISTED]:
        failed = item.last_failure_at.isoformat(timespec="seconds") if item.last_failure_at else "-"
        table.add_row(
            item.source,
            item.document_id or "-",
            f"{item.outcome}/{item.error_class}",
            failed,
            str(item.replay_count),
            item.target or "-",
        )
    console.print(table)
    if len(items) > _LISTED:
        console.print(f"... and {len(items) - _LISTED} more (use --format json for all)")


class ProgressBar:
    """The replay progress bar; a no-op when disabled or stderr is not a terminal."""

    def __init__(self, *, enabled: bool) -> None:
        console = Console(stderr=True)
        self._enabled = enabled and console.is_terminal
        self._progress = Progress(
            TextColumn("replay"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sent {task.fields[replayed]} skipped {task.fields[skipped]}"),
            TextColumn("filtered {task.fields[filtered]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self._enabled,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._enabled:
            self._progress.stop()

    def update(self, progress: ReplayProgress) -> None:
        if not self._enabled:
            return
        if self._task is None:
            self._task = self._progress.add_task(
                "replay",
                total=progress.total,
                replayed=progress.replayed,
                skipped=progress.skipped,
                filtered=progress.filtered_out,
            )
        self._progress.update(
            self._task,
            completed=progress.examined,
            total=progress.total,
            replayed=progress.replayed,
            skipped=progress.skipped,
            filtered=progress.filtered_out,
        )
