"""`docstream run` from the command line: flags reach the worker, the summary and exit codes."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from stream.cli.main import cli
from stream.simulator import SimulatorProcess
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import account, doc, publish

pytestmark = pytest.mark.kafka


def _env(settings_topics: dict[str, str], base_url: str) -> dict[str, str]:
    return {
        **settings_topics,
        "DOCSTREAM_CLAUDE__BASE_URL": base_url,
        "DOCSTREAM_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "DOCSTREAM_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
    }


def test_run_max_documents_processes_n_prints_summary_and_exits_zero(
    settings_factory: SettingsFactory, simulator_process: SimulatorProcess
) -> None:
    """--max-documents 5 with the flags for broker, group and topic: 5 outputs, exit 0."""
    settings = settings_factory({"kafka.topics.partitions": 1})
    asyncio.run(publish(settings, [doc(f"d{i}") for i in range(8)]))
    kafka = settings.kafka
    env = _env(
        {
            "DOCSTREAM_KAFKA__PROFILE": kafka.profile,
            "DOCSTREAM_KAFKA__TOPICS__RESULTS": kafka.topics.results,
            "DOCSTREAM_KAFKA__TOPICS__DLQ": kafka.topics.dlq,
        },
        simulator_process.base_url,
    )
    args = [
        "run",
        "--bootstrap",
        kafka.bootstrap_servers,
        "--group",
        kafka.group_id,
        "--topic",
        kafka.topics.input,
        "--max-documents",
        "5",
        "--concurrency",
        "4",
    ]

    result = CliRunner().invoke(cli, args, env=env)

    assert result.exit_code == 0, result.output
    assert "documents processed" in result.output
    books = asyncio.run(account(settings))
    assert sum(books.results.values()) == 5


def test_run_bad_flag_or_missing_pipeline_stops_with_exit_2() -> None:
    """A bad choice or a pipeline that doesn't exist stops before anything starts."""
    runner = CliRunner()
    bad_choice = runner.invoke(cli, ["run", "--ordering", "sideways"])
    assert bad_choice.exit_code == 2
    assert "sideways" in bad_choice.output
    missing = runner.invoke(cli, ["run", "--pipeline", "nope.yaml"])
    assert missing.exit_code == 2
    assert "nope.yaml" in missing.output
