"""Shared CLI plumbing: the global --config option and turning flags into Settings."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from stream.config import ConfigError, Settings, load_settings

__all__ = ["CliState", "build_settings", "fail", "pass_state"]


@dataclass(frozen=True, slots=True)
class CliState:
    config_file: Path | None
    verbose: int


pass_state = click.make_pass_decorator(CliState, ensure=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop the command with one clear line on stderr."""
    click.echo(f"docstream: {message}", err=True)
    sys.exit(code)


def build_settings(state: CliState, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from flag overrides ("section.field": value) > env > --config file > defaults."""
    try:
        return load_settings(state.config_file, overrides)
    except ConfigError as exc:
        fail(f"config error: {exc}")


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # The SDK's debug log prints request bodies (document text); keep it quiet.
    logging.getLogger("anthropic").setLevel(max(level, logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)
