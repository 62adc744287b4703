"""``docstream results``: print or follow the results topic."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import IO

import click

from stream.cli.common import (
    CliState,
    build_settings,
    command_telemetry,
    fail,
    fail_with,
    pass_state,
)
from stream.config import KafkaSettings
from stream.errors import DocstreamError

__all__ = ["results"]


@click.command("results")
@click.option("--bootstrap", help="Kafka bootstrap servers.")
@click.option("--topic", help="Results topic (default kafka.topics.results).")
@click.option("--follow", is_flag=True, help="Keep printing new results as they arrive.")
@click.option(
    "--from-beginning/--from-end",
    default=True,
    help="Start at the oldest result (default) or only show new ones.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
@click.option(
    "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE instead."
)
@pass_state
def results(
    state: CliState,
    bootstrap: str | None,
    topic: str | None,
    follow: bool,
    from_beginning: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """Print result records: a table (id, pipeline, models, tokens, cost, first output) or JSONL."""
    settings = build_settings(
        state, {"kafka.bootstrap_servers": bootstrap, "kafka.topics.results": topic}
    )
    name = settings.kafka.topics.results
    sink: IO[str] = click.open_file(str(output) if output else "-", "w", encoding="utf-8")
    try:
        with command_telemetry(settings):
            count = asyncio.run(_print(settings.kafka, name, follow, from_beginning, fmt, sink))
    except KeyboardInterrupt:
        return
    except DocstreamError as exc:
        fail_with(exc)
    except OSError as exc:
        fail(f"cannot read {name}: {exc}", code=1)
    finally:
        if output:  # stdout is not ours to close
            sink.close()
    if count is None:  # the reader went away (`| head`): what it wanted was delivered
        _silence_stdout()
        return
    click.echo(f"{count} results from {name}", err=True)


async def _print(
    kafka: KafkaSettings, topic: str, follow: bool, from_beginning: bool, fmt: str, sink: IO[str]
) -> int | None:
    """Write the records; the count, or None when the output was closed under us."""
    from stream.kafka.admin import require_topics
    from stream.kafka.reader import read_topic

    await require_topics(kafka, [topic])
    count = 0
    try:
        if fmt == "table":
            sink.write(
                f"{'document':<28} {'pipeline':<10} {'tokens in/out':>14} {'cost $':>9}  output\n"
            )
        async for record in read_topic(kafka, topic, from_beginning=from_beginning, follow=follow):
            count += 1
            value = record.value or b""
            line = value.decode("utf-8", "replace") if fmt == "jsonl" else _row(value)
            sink.write(line + "\n")
            sink.flush()
    except BrokenPipeError:
        return None  # leaving the loop closes the reader
    return count


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush into the closed pipe
    cannot print "Broken pipe" on exit (the recipe in Python's signal docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _row(value: bytes) -> str:
    try:
        data = json.loads(value)
        usage = data["usage"]
        outputs = list(data["outputs"].values())
        first = str(outputs[0].get("text", "")) if outputs else ""
        snippet = " ".join(first.split())[:60]
        tokens = f"{usage['input_tokens']}/{usage['output_tokens']}"
        return (
            f"{data['document_id'][:28]:<28} {data['pipeline'][:10]:<10} {tokens:>14} "
            f"{data['cost_usd']:>9.5f}  {snippet}"
        )
    except (ValueError, KeyError, TypeError):
        return f"(not a result record: {len(value)} bytes)"
