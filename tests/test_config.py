"""Settings precedence (flag > env > file > default), clear errors, masked secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stream.cli.main import cli
from stream.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DOCSTREAM_") or name == "ANTHROPIC_API_KEY":
            monkeypatch.delenv(name)


def _yaml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "docstream.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_config_defaults_without_any_layer() -> None:
    """No file, env or flag: the documented defaults."""
    settings = load_settings()
    assert settings.kafka.topics.input == "documents"
    assert settings.kafka.topics.dlq == "documents.dlq"
    assert settings.limits.max_attempts == 6


def test_config_file_overrides_default(tmp_path: Path) -> None:
    """A YAML file value beats the default."""
    path = _yaml(tmp_path, "kafka:\n  group_id: from-file\n  topics: {partitions: 12}\n")
    settings = load_settings(path)
    assert settings.kafka.group_id == "from-file"
    assert settings.kafka.topics.partitions == 12
    assert settings.kafka.topics.input == "documents"  # nested keys merge, not replace


def test_config_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCSTREAM_SECTION__FIELD beats the file."""
    path = _yaml(tmp_path, "kafka:\n  group_id: from-file\n")
    monkeypatch.setenv("DOCSTREAM_KAFKA__GROUP_ID", "from-env")
    assert load_settings(path).kafka.group_id == "from-env"


def test_config_flag_overrides_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command-line override beats the environment, and only touches its own field."""
    path = _yaml(tmp_path, "kafka:\n  client_id: file-client\n")
    monkeypatch.setenv("DOCSTREAM_KAFKA__GROUP_ID", "from-env")
    settings = load_settings(path, {"kafka.group_id": "from-flag"})
    assert settings.kafka.group_id == "from-flag"
    assert settings.kafka.client_id == "file-client"


def test_config_bad_value_names_field_and_allowed_range() -> None:
    """One line naming the field and what is allowed."""
    with pytest.raises(ConfigError, match=r"limits\.max_attempts: Input should be greater"):
        load_settings(None, {"limits.max_attempts": 0})


def test_config_unknown_field_and_inconsistent_limits_are_errors(tmp_path: Path) -> None:
    """Typos in the file and contradictory limits stop the command."""
    with pytest.raises(ConfigError, match=r"kafka\.grup_id: Extra inputs"):
        load_settings(_yaml(tmp_path, "kafka:\n  grup_id: x\n"))
    with pytest.raises(ConfigError, match="min_concurrency <= initial_concurrency"):
        load_settings(None, {"limits.initial_concurrency": 500, "limits.max_concurrency": 10})


def test_config_missing_or_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing file or a YAML list at the top level names the file."""
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(_yaml(tmp_path, "- a\n- b\n"))


def test_config_api_key_from_env_and_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANTHROPIC_API_KEY is read; a key file works when the env var is absent."""
    key_file = tmp_path / "key"
    key_file.write_text("sk-ant-from-file-0000000000\n", encoding="utf-8")
    settings = load_settings(None, {"claude.api_key_file": str(key_file)})
    assert settings.api_key() == "sk-ant-from-file-0000000000"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-1111111111")
    assert load_settings().api_key() == "sk-ant-from-env-1111111111"


def test_config_show_masks_the_key_and_exits_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """`config show` never prints the secret, in YAML or JSON."""
    secret = "sk-ant-SENTINEL-abcdefghijklmnop-WXYZ"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    runner = CliRunner()
    for fmt in ("yaml", "json"):
        result = runner.invoke(cli, ["config", "show", "--format", fmt])
        assert result.exit_code == 0, result.output
        assert "SENTINEL" not in result.output
    data = json.loads(runner.invoke(cli, ["config", "show", "--format", "json"]).output)
    assert data["claude"]["api_key"] == "**********WXYZ"
    assert "SENTINEL" not in repr(load_settings())


def test_config_bad_env_value_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value stops any command with exit code 2 and a one-line message."""
    monkeypatch.setenv("DOCSTREAM_PROCESSING__ORDERING", "sideways")
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "processing.ordering" in lines[0] and "'unordered'" in lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DOCSTREAM_KAFKA__TOPICS__DLQ", "documents", "dlq and input"),
        ("DOCSTREAM_KAFKA__TOPICS__RESULTS", "documents", "results and input"),
        ("DOCSTREAM_KAFKA__TOPICS__DLQ", "documents.results", "dlq and results"),
        ("DOCSTREAM_LIMITS__DOCUMENT_DEADLINE_S", "inf", "limits.document_deadline_s"),
        ("DOCSTREAM_PROCESSING__COMMIT_INTERVAL_S", "nan", "processing.commit_interval_s"),
        ("DOCSTREAM_CLAUDE__TIMEOUT_S", "Infinity", "claude.timeout_s"),
    ],
)
def test_config_looping_topics_and_non_finite_numbers_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    """An output topic equal to the input (one bad record would multiply) and inf/nan
    (which pass every range check) are rejected at start like any bad value."""
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0], result.output


def test_run_with_the_input_topic_as_dlq_stops_before_connecting() -> None:
    """`run --topic <the DLQ topic>` is the same loop, caught from the flag."""
    result = CliRunner().invoke(cli, ["run", "--topic", "documents.dlq"])
    assert result.exit_code == 2
    assert result.output.startswith("docstream: config error:")
    assert "dlq and input must be different topics" in result.output


def test_run_with_an_unknown_otlp_protocol_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OTLP protocol we cannot export with is a configuration error, not a traceback."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    result = CliRunner().invoke(cli, ["run", "--telemetry", "otlp"])
    assert result.exit_code == 2, result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "OTEL_EXPORTER_OTLP_PROTOCOL" in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--until-idle", "nan"],
        ["run", "--until-idle", "inf"],
        ["dlq", "replay", "--rate", "nan"],
        ["dlq", "replay", "--rate", "inf"],
    ],
)
def test_non_finite_float_flags_exit_2_before_connecting(args: list[str]) -> None:
    """nan passes every range check and inf a lower bound: a flag refuses both."""
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "is not a finite number" in result.output


def test_group_instance_id_is_unset_by_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Static membership is opt-in: one id per worker, e.g. from the pod name."""
    assert load_settings().kafka.group_instance_id is None
    monkeypatch.setenv("DOCSTREAM_KAFKA__GROUP_INSTANCE_ID", "docstream-3")
    assert load_settings().kafka.group_instance_id == "docstream-3"


def test_run_instance_id_flag_is_checked_like_kafka_checks_it() -> None:
    """`run --instance-id` sets kafka.group_instance_id; a character Kafka refuses in an
    instance id (the topic-name alphabet) stops the worker before it connects."""
    result = CliRunner().invoke(cli, ["run", "--instance-id", "worker 3"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "kafka.group_instance_id" in lines[0], result.output
