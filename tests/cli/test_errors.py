"""Errors a person meets at the command line: one line, the documented exit code.

Exit codes (README "Exit codes"): 1 an error (e.g. Kafka unreachable, a topic missing),
2 bad configuration, flag or pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stream.cli.main import cli
from tests.cli.helpers import dead_address, docstream

_SIM = {"DOCSTREAM_CLAUDE__BASE_URL": "http://127.0.0.1:9"}


@pytest.mark.parametrize(
    "command",
    [
        ["results"],
        ["dlq", "inspect"],
        ["dlq", "replay"],
        ["run", "--until-idle", "1"],
        ["publish", "-"],
        ["topics", "create"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_every_kafka_command_with_the_broker_down_prints_one_line_and_exits_1(
    command: list[str],
) -> None:
    """No traceback, no "Unclosed AIOKafkaConsumer", no client log: one line, exit 1."""
    address = dead_address()
    done = docstream([*command, "--bootstrap", address], env=_SIM)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert lines == [lines[0]] and lines[0].startswith(
        f"docstream: cannot reach Kafka at {address}"
    ), done.stderr
    assert done.stdout == ""


def test_config_show_with_an_unreadable_key_file_is_one_config_line_exit_2(
    tmp_path: Path,
) -> None:
    """The k8s ConfigMap's key file path, absent locally: a config error naming the file."""
    config = tmp_path / "docstream.yaml"
    config.write_text(f"claude: {{api_key_file: {tmp_path}/absent-key}}\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "config", "show"], env={})
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"docstream: config error: claude.api_key_file {tmp_path}/absent-key: "
        "cannot read it (No such file or directory)"
    )


@pytest.mark.parametrize(
    "args",
    [["config", "show", "--config", "{file}"], ["dlq", "inspect", "--config", "{file}"]],
    ids=["config show", "dlq inspect"],
)
def test_config_after_the_subcommand_is_read(tmp_path: Path, args: list[str]) -> None:
    """`docstream config show --config FILE` reads FILE, as `--config FILE config show` does."""
    config = tmp_path / "bad.yaml"
    config.write_text("limits: {max_attempts: 0}\n")
    argv = [a.format(file=config) for a in args]
    result = CliRunner().invoke(cli, argv, env={})
    assert result.exit_code == 2, result.output
    assert "limits.max_attempts" in result.output


def test_a_misspelt_env_section_is_a_config_error_exit_2() -> None:
    """DOCSTREAM_LIMIT__... (not LIMITS) is named, not silently ignored."""
    result = CliRunner().invoke(
        cli, ["config", "show"], env={"DOCSTREAM_LIMIT__MAX_CONCURRENCY": "3"}
    )
    assert result.exit_code == 2, result.output
    assert "DOCSTREAM_LIMIT__MAX_CONCURRENCY: not a docstream setting" in result.output


def test_docstream_config_is_not_mistaken_for_a_section(tmp_path: Path) -> None:
    config = tmp_path / "ok.yaml"
    config.write_text("limits: {max_attempts: 2}\n")
    result = CliRunner().invoke(
        cli, ["config", "show", "--format", "json"], env={"DOCSTREAM_CONFIG": str(config)}
    )
    assert result.exit_code == 0, result.output
    assert '"max_attempts": 2' in result.output


def _pipeline(tmp_path: Path, user: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nstages:\n  - name: one\n    user: {user!r}\n")
    return path


@pytest.mark.parametrize(
    ("case", "env"),
    [
        ("invalid pipeline", _SIM),
        ("unknown placeholder", _SIM),
        ("missing API key", {}),
    ],
)
def test_run_with_bad_configuration_exits_2_before_touching_kafka(
    tmp_path: Path, case: str, env: dict[str, str]
) -> None:
    """Everything the user fixes in what they passed exits 2, like a bad flag."""
    user = {
        "invalid pipeline": "{{ stages.nosuch }}",
        "unknown placeholder": "{{ documnet }}",
        "missing API key": "{{ document }}",
    }[case]
    pipeline = _pipeline(tmp_path, user)
    # The broker is down too: configuration is checked first, so that is never reached.
    done = docstream(["run", "--pipeline", str(pipeline), "--bootstrap", dead_address()], env=env)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_invalid_output_is_a_dlq_outcome_and_the_readme_lists_every_one() -> None:
    """One list of DLQ outcome names: the worker's, the CLI's and the README's agree."""
    from stream.errors import DLQ_OUTCOMES, Outcome

    assert Outcome.INVALID_OUTPUT in DLQ_OUTCOMES
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if "`docstream.error.outcome`" in line)
    listed = {part.strip(" `") for part in row.split("|")[3].split("(")[0].split(",")}
    assert listed == {o.value for o in DLQ_OUTCOMES}


def test_demo_with_a_bad_pipeline_stops_at_once_with_one_line_exit_2(tmp_path: Path) -> None:
    """Checked before the embedded broker and the simulator start."""
    result = CliRunner().invoke(
        cli, ["demo", "--pipeline", str(_pipeline(tmp_path, "{{ documnet }}"))], env={}
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("docstream: pipeline p") and "documnet" in result.output
    assert "published" not in result.output
