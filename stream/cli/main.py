"""The ``docstream`` command. Each subcommand parses flags, builds Settings, calls one function."""

from __future__ import annotations

from pathlib import Path

import click

from stream import __version__
from stream.cli.common import CONFIG_HELP, CliState, config_option, setup_logging
from stream.cli.config_cmds import config_group, schemas_group
from stream.cli.lazy import LazyGroup

__all__ = ["cli", "main"]


_COMMANDS = {
    "broker": "stream.cli.broker_cmd:broker",
    "topics": "stream.cli.topics_cmd:topics",
    "publish": "stream.cli.publish_cmd:publish",
    "simulate": "stream.cli.simulate_cmd:simulate",
    "run": "stream.cli.run_cmd:run",
    "results": "stream.cli.results_cmd:results",
    "dlq": "stream.cli.dlq_cmd:dlq",
    "bench": "stream.cli.bench_cmd:bench",
    "demo": "stream.cli.demo_cmd:demo",
    "pipeline": "stream.cli.pipeline_cmd:pipeline",
}


@click.group(
    cls=LazyGroup,
    lazy=_COMMANDS,
    shared=config_option,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="DOCSTREAM_CONFIG",
    help=CONFIG_HELP,
)
@click.option("-v", "--verbose", count=True, help="-v info, -vv debug logs on stderr.")
@click.version_option(__version__, prog_name="docstream")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, verbose: int) -> None:
    """docstream: Kafka in, Claude in the middle, results and a replayable DLQ out."""
    setup_logging(verbose)
    ctx.obj = CliState(config_file=config_file, verbose=verbose)


cli.add_command(config_group)
cli.add_command(schemas_group)


def main() -> None:
    cli(prog_name="docstream")
