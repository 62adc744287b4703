"""Errors a person meets at the command line, against the session's real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from click.testing import CliRunner

from stream.cli.main import cli
from stream.config import Settings
from stream.errors import DLQ_OUTCOMES
from stream.kafka.admin import ensure_topics
from stream.kafka.producer import KafkaSink
from tests.cli.helpers import clean_env, docstream
from tests.fixtures.broker import SettingsFactory
from tests.fixtures.env import kafka_env

pytestmark = pytest.mark.kafka


def _env(settings: Settings) -> dict[str, str]:
    return {**kafka_env(settings.kafka), "DOCSTREAM_CLAUDE__BASE_URL": "http://127.0.0.1:9"}


async def _fill(settings: Settings, count: int, size: int) -> None:
    await ensure_topics(settings.kafka)
    async with KafkaSink(settings.kafka) as sink:
        for i in range(count):
            await sink.send(
                settings.kafka.topics.results, f'{{"n": {i}, "pad": "{"x" * size}"}}'.encode()
            )


def test_results_piped_into_head_ends_quietly_with_exit_0(
    settings_factory: SettingsFactory,
) -> None:
    """`docstream results --format jsonl | head -3`: far more output than the pipe holds;
    the reader closes after 3 lines and the command ends without a word."""
    settings = settings_factory({"kafka.topics.partitions": 1})
    asyncio.run(_fill(settings, count=2_000, size=200))  # ~440 kB, the pipe holds 64 kB
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream", "results", "--format", "jsonl"],
        env=clean_env(_env(settings)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()
    code = proc.wait(timeout=90)
    stderr = proc.stderr.read()
    assert [line.startswith('{"n": ') for line in head] == [True] * 3
    assert code == 0, stderr
    assert stderr == ""


def test_results_on_a_missing_topic_says_so_and_exits_1(
    settings_factory: SettingsFactory,
) -> None:
    settings = settings_factory()
    done = docstream(["results", "--topic", "nosuch-results-topic"], env=_env(settings))
    assert done.returncode == 1, done.stderr
    assert "topic 'nosuch-results-topic' does not exist" in done.stderr
    assert done.stdout == ""  # not an empty table


def test_run_on_a_missing_input_topic_says_so_and_exits_1(
    settings_factory: SettingsFactory,
) -> None:
    """`run --topic nosuch` used to wait for an assignment that never came, then exit 0."""
    settings = settings_factory()
    done = docstream(["run", "--topic", "nosuch-input", "--until-idle", "1"], env=_env(settings))
    assert done.returncode == 1, done.stderr
    assert "topic 'nosuch-input' does not exist" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("outcome", [o.value for o in DLQ_OUTCOMES])
def test_dlq_inspect_accepts_every_outcome_a_dlq_record_can_carry(
    settings_factory: SettingsFactory, outcome: str
) -> None:
    """invalid_output (a JSON stage still invalid after its repair) was rejected."""
    settings = settings_factory()
    asyncio.run(ensure_topics(settings.kafka))
    result = CliRunner().invoke(
        cli, ["dlq", "inspect", "--outcome", outcome, "--format", "json"], env=_env(settings)
    )
    assert result.exit_code == 0, result.output
