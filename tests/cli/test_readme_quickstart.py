"""The README quick start (issue 13, item 16): `docstream` on PATH, short group timeouts
for local runs, where --config goes; and every command and variable in it is real."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from stream.cli.main import cli
from stream.config import load_settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _quick_start() -> str:
    start = README.index("## Quick start\n")
    return README[start : README.index("\n## ", start + 1)]


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", _quick_start(), flags=re.S)
    return [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]


def _parse(args: list[str]) -> None:
    """Resolve the subcommands and parse the leaf's options like the real command line
    (an unknown option or a bad value raises), without running anything."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="docstream")
    rest = list(args)
    while isinstance(command, click.Group):
        name, rest = rest[0], rest[1:]
        sub = command.get_command(ctx, name)
        assert sub is not None, name
        ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub
    command.parse_args(ctx, rest)


def test_quick_start_says_how_to_get_docstream_on_path_timeouts_and_config() -> None:
    text = _quick_start()
    assert "source .venv/bin/activate" in text
    assert "DOCSTREAM_KAFKA__SESSION_TIMEOUT_MS=2000" in text
    assert "docstream --config local.yaml run" in text and "docstream run --config" in text


def test_every_docstream_command_in_the_quick_start_parses() -> None:
    commands = [line for line in _shell_lines() if line.startswith("docstream ")]
    assert len(commands) >= 8
    for line in commands:
        args = shlex.split(line.split("|", 1)[0])[1:]
        if args == ["--help"]:
            continue
        _parse(args)


def test_every_variable_and_the_config_example_are_real_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in [k for k in os.environ if k.startswith("DOCSTREAM_")]:
        monkeypatch.delenv(key)
    exports = [line for line in _shell_lines() if line.startswith("export ")]
    for line in exports:
        for pair in shlex.split(line)[1:]:
            name, _, value = pair.partition("=")
            monkeypatch.setenv(name, value)
    from_env = load_settings()
    assert from_env.kafka.session_timeout_ms == 2000
    assert from_env.kafka.profile == "embedded"
    for key in [k for k in os.environ if k.startswith("DOCSTREAM_")]:
        monkeypatch.delenv(key)
    example = re.search(r"```yaml\n(.*?)```", _quick_start(), flags=re.S)
    assert example is not None
    config = tmp_path / "local.yaml"
    config.write_text("\n".join(line.strip() for line in example.group(1).splitlines()))
    from_file = load_settings(config)
    assert from_file.kafka.heartbeat_interval_ms == 500
    assert yaml.safe_load(config.read_text())["claude"]["base_url"] == from_file.claude.base_url
