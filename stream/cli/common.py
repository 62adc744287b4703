"""Shared CLI plumbing: the global --config option and turning flags into Settings."""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from stream.config import ConfigError, Settings, load_settings
from stream.errors import DocstreamError, PipelineError

if TYPE_CHECKING:
    from stream.telemetry.setup import TelemetryHandle

# Exit code of a command stopped by one of our errors (README "Exit codes"); the most
# specific listed class of the error wins. Bad configuration and an unusable pipeline are
# both things the user fixes in what they passed: 2, like a bad flag.
EXIT_CODES: dict[type[DocstreamError], int] = {
    ConfigError: 2,
    PipelineError: 2,
    DocstreamError: 1,
}

__all__ = [
    "EXIT_CODES",
    "CliState",
    "FiniteFloatRange",
    "build_settings",
    "command_telemetry",
    "config_option",
    "exit_code_for",
    "fail",
    "fail_with",
    "pass_state",
]


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses inf and nan: nan passes every bound check and
    inf passes a lower one, and either would make a wait or a rate never end."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


@dataclass(frozen=True, slots=True)
class CliState:
    config_file: Path | None
    verbose: int


pass_state = click.make_pass_decorator(CliState, ensure=True)

CONFIG_HELP = "YAML settings file (flags and DOCSTREAM_* env vars override it)."


def _set_config_file(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is None:
        return
    state = ctx.find_object(CliState) or CliState(None, 0)
    node: click.Context | None = ctx
    while node is not None:  # each context holds its own reference to the state
        node.obj = replace(state, config_file=value)
        node = node.parent


def config_option() -> click.Option:
    """``--config`` for a subcommand, so it works after the subcommand name as well as
    before it (``docstream run --config x.yaml``); it sets the same CliState field."""
    return click.Option(
        ["--config", "config_file"],
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        callback=_set_config_file,
        help=CONFIG_HELP,
    )


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop the command with one clear line on stderr."""
    click.echo(f"docstream: {message}", err=True)
    sys.exit(code)


def exit_code_for(exc: DocstreamError) -> int:
    return next(EXIT_CODES[cls] for cls in type(exc).__mro__ if cls in EXIT_CODES)


def fail_with(exc: DocstreamError) -> NoReturn:
    """Stop the command with the error's one line and its exit code from EXIT_CODES."""
    prefix = "config error: " if isinstance(exc, ConfigError) else ""
    fail(f"{prefix}{exc}", exit_code_for(exc))


def build_settings(state: CliState, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from flag overrides ("section.field": value) > env > --config file > defaults."""
    try:
        settings = load_settings(state.config_file, overrides)
    except ConfigError as exc:
        fail_with(exc)
    setup_logging(state.verbose, capture_content=settings.telemetry.capture_content)
    return settings


@contextlib.contextmanager
def command_telemetry(settings: Settings, *, prometheus: bool = False) -> Iterator[TelemetryHandle]:
    """Telemetry for one command, configured as every command does (telemetry.exporter and
    the OTEL_* variables), flushed when the command ends: a trace starts at the publisher
    and a short command's spans are exported too. ``prometheus``: also feed /metrics."""
    from stream.telemetry.setup import configure_telemetry

    try:
        handle = configure_telemetry(settings.telemetry, prometheus=prometheus)
    except ConfigError as exc:
        fail_with(exc)
    with handle:
        yield handle


# Third-party loggers whose DEBUG lines print payloads: aiokafka's producer logs every
# record it sends (DLQ originals, result JSON), the anthropic SDK its request options (the
# prompt), httpcore2 (the SDK's transport) its traffic. They go below INFO only when
# content capture is on.
_PAYLOAD_LOGGERS = ("aiokafka", "anthropic", "httpcore2")


def setup_logging(verbose: int, *, capture_content: bool = False) -> None:
    """stderr logging for -v/-vv. Called again once the settings say whether content
    capture is on (``build_settings``); until then, payload loggers stay at INFO."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    floor = logging.NOTSET if capture_content else logging.INFO
    for name in _PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(max(level, floor))
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # a line per request at INFO
    # aiokafka's log of failed bootstrap attempts is held back while a client starts
    # (stream.kafka.connect); once running, its warnings and errors show.
