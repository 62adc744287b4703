"""``docstream demo`` (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from stream.cli.common import fail_with
from stream.errors import DocstreamError

__all__ = ["demo"]

_NEXT_STEPS = """\
[bold]What to try next[/] (the demo's broker and simulator have stopped; start your own):
  source .venv/bin/activate                        # `docstream` on PATH
  docstream broker --port 9092                     # terminal 1: embedded Kafka
  docstream simulate --port 8080 --rpm 600         # terminal 2: a tighter rate limit
  export DOCSTREAM_KAFKA__PROFILE=embedded DOCSTREAM_CLAUDE__BASE_URL=http://127.0.0.1:8080
  export DOCSTREAM_KAFKA__SESSION_TIMEOUT_MS=2000 DOCSTREAM_KAFKA__HEARTBEAT_INTERVAL_MS=500
  docstream topics create && docstream publish demo-out/corpus.jsonl
  docstream run --pipeline triage --progress --until-idle 5
  docstream results --format jsonl | head -3
  docstream dlq inspect                            # what failed, and why
"""


@click.command("demo")
@click.option("--documents", type=click.IntRange(min=1, max=100_000), default=300)
@click.option("--pipeline", default="triage", help="Built-in name or pipeline YAML file.")
@click.option("--rpm", type=click.IntRange(min=1), default=3000, help="Simulator requests/minute.")
@click.option("--progress/--no-progress", default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default="demo-out")
def demo(documents: int, pipeline: str, rpm: int, progress: bool, out_dir: Path) -> None:
    """Run the whole job end to end on the embedded broker and the simulator."""
    from stream.cli.summary import print_summary
    from stream.demo.job import DemoOptions, run_demo

    console = Console(stderr=True)
    try:
        _check_pipeline(pipeline)  # before a broker and a simulator are started for nothing
        report = run_demo(
            DemoOptions(
                documents=documents, pipeline=pipeline, rpm=rpm, progress=progress, out_dir=out_dir
            ),
            console,
        )
    except DocstreamError as exc:  # a bad pipeline, a broker that would not start
        fail_with(exc)
    print_summary(report, console)
    console.print(_NEXT_STEPS)
    raise SystemExit(report.exit_code)


def _check_pipeline(pipeline: str) -> None:
    from stream.config import ClaudeSettings
    from stream.pipeline import load_pipeline

    claude = ClaudeSettings()
    load_pipeline(pipeline, default_model=claude.model, default_max_tokens=claude.max_tokens)
