"""``docstream config show`` and ``docstream schemas export``."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from stream.cli.common import CliState, build_settings, fail_with, pass_state
from stream.errors import DocstreamError

__all__ = ["config_group", "schemas_group"]


@click.group("config")
def config_group() -> None:
    """Inspect the effective configuration."""


@config_group.command("show")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@pass_state
def config_show(state: CliState, fmt: str) -> None:
    """Print the effective configuration, secrets masked."""
    import json

    try:
        data = build_settings(state).masked()
    except DocstreamError as exc:  # e.g. claude.api_key_file cannot be read
        fail_with(exc)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


@click.group("schemas")
def schemas_group() -> None:
    """JSON Schema files for the wire formats."""


@schemas_group.command("export")
@click.option(
    "--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default="schemas"
)
def schemas_export(directory: Path) -> None:
    """Write document, result, dead-letter and pipeline schemas into DIR."""
    from stream.models.export import export_schemas

    for path in export_schemas(directory):
        click.echo(f"wrote {path}")
