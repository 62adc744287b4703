"""``inspect_dlq`` and the ``docstream dlq`` commands on the real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from stream.cli.main import cli
from stream.config import Settings
from stream.dlq.filters import ReplayFilters
from stream.dlq.inspect import inspect_dlq
from tests.dlq.helpers import SECRET, letter_record, put_dlq, read_all
from tests.fixtures.broker import SettingsFactory
from tests.fixtures.env import kafka_env

pytestmark = pytest.mark.kafka


def _at(hour: int, minute: int) -> datetime:
    return datetime(2025, 5, 1, hour, minute, tzinfo=UTC)


async def _fill(settings: Settings) -> None:
    topic = settings.kafka.topics.input
    await put_dlq(
        settings,
        [
            letter_record("a", original_topic=topic, failed_at=_at(10, 15)),
            letter_record("b", original_topic=topic, failed_at=_at(10, 45), model="m2"),
            letter_record(
                "c",
                original_topic=topic,
                outcome="bad_input",
                error_class="invalid_utf8",
                stage=None,
                model=None,
                failed_at=_at(12, 5),
                value=b'{"id": "c", "text": "\xff' + SECRET.encode() + b'"}',
            ),
            (b"foreign", b"not ours", [("h", b"1")]),
        ],
    )


async def test_inspect_counts_by_outcome_class_stage_model_and_hour(
    settings_factory: SettingsFactory,
) -> None:
    """Every breakdown counts the selected records; foreign records are counted apart."""
    settings = settings_factory()
    await _fill(settings)

    report = await inspect_dlq(settings)

    assert (report.total, report.matched, report.invalid) == (4, 3, 1)
    assert report.by_outcome == {"refused": 2, "bad_input": 1}
    assert report.by_error_class == {"refusal": 2, "invalid_utf8": 1}
    assert report.by_stage == {"summary": 2, "(none)": 1}
    assert report.by_model == {"claude-test": 1, "m2": 1, "(none)": 1}
    assert report.by_hour == {"2025-05-01T10:00Z": 2, "2025-05-01T12:00Z": 1}
    filtered = await inspect_dlq(settings, ReplayFilters(outcomes=("bad_input",)))
    assert (filtered.matched, filtered.by_hour) == (1, {"2025-05-01T12:00Z": 1})


async def test_inspect_samples_newest_first_without_values_unless_asked(
    settings_factory: SettingsFactory,
) -> None:
    """--show N keeps the N latest failures; the value appears only with show_values."""
    settings = settings_factory()
    await _fill(settings)

    plain = await inspect_dlq(settings, show=2)
    shown = await inspect_dlq(settings, show=3, show_values=True)

    assert [s.document_id for s in plain.samples] == ["c", "b"]
    assert plain.samples[0].context["error_class"] == "invalid_utf8"
    assert plain.samples[1].other_headers["traceparent"].startswith("00-")
    assert SECRET not in json.dumps(plain.to_dict())
    previews = {s.document_id: s.preview for s in shown.samples}
    assert previews["a"] is not None and previews["a"].startswith("utf-8: ")
    assert SECRET[:20] in previews["a"]
    assert previews["c"] is not None and previews["c"].startswith("hex: 7b 22 69 64")


def test_cli_inspect_table_and_json_never_print_document_text(
    settings_factory: SettingsFactory,
) -> None:
    """`dlq inspect` prints counts and samples, the document text only with --show-values."""
    settings = settings_factory()
    asyncio.run(_fill(settings))
    runner = CliRunner()
    env = kafka_env(settings.kafka)

    table = runner.invoke(cli, ["dlq", "inspect", "--show", "3"], env=env)
    as_json = runner.invoke(cli, ["dlq", "inspect", "--format", "json"], env=env)
    values = runner.invoke(cli, ["dlq", "inspect", "--show", "3", "--show-values"], env=env)

    assert table.exit_code == 0, table.output
    assert "invalid_utf8" in table.output and "refusal" in table.output
    assert SECRET not in table.output and SECRET not in as_json.output
    data = json.loads(as_json.output)
    assert data["by_outcome"] == {"refused": 2, "bad_input": 1} and data["invalid"] == 1
    assert SECRET[:20] in values.output


def test_cli_replay_dry_run_then_real_run(settings_factory: SettingsFactory) -> None:
    """`dlq replay --dry-run` lists and sends nothing; the real run sends; a rerun, nothing."""
    settings = settings_factory()
    asyncio.run(_fill(settings))
    runner = CliRunner()
    env = kafka_env(settings.kafka)
    args = ["dlq", "replay", "--outcome", "refused", "--format", "json"]

    dry = runner.invoke(cli, [*args, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)["dry_run"]
    sent_by_dry_run = asyncio.run(read_all(settings, settings.kafka.topics.input))
    real = runner.invoke(cli, args, env=env)
    rerun = runner.invoke(cli, [*args[:-2], "--no-progress"], env=env)

    assert sorted(p["document_id"] for p in planned) == ["a", "b"]
    assert sent_by_dry_run == []
    assert real.exit_code == 0, real.output
    assert json.loads(real.output)["replayed"] == 2
    assert rerun.exit_code == 0 and "replayed 0" in rerun.output
    bad = runner.invoke(cli, ["dlq", "replay", "--since", "soon"], env=env)
    assert bad.exit_code == 2 and "ISO time" in bad.output
