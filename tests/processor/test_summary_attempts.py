"""The run summary's "Claude attempts" counts every attempt sent (finding 13 of issue 13)."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from stream.cli.summary import print_summary
from stream.processor import StopPolicy
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import doc, publish

pytestmark = pytest.mark.kafka

# The first stage answers; the second is refused (400), so every document is dead-lettered
# after two attempts, of which the failing stage made only one.
_PIPELINE = """\
name: two_step
stages:
  - name: first
    user: "{{ document }}"
  - name: second
    depends_on: [first]
    user: "{{ stages.first }} <<bad_request>>"
"""


async def test_summary_attempts_include_the_stages_before_a_dead_letter(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    pipeline = tmp_path / "two_step.yaml"
    pipeline.write_text(_PIPELINE)
    settings = settings_factory()
    await publish(settings, [doc(f"d{i}") for i in range(5)])
    client = ScriptedClaude()

    report = await run_worker(
        settings, stop=StopPolicy(until_idle_s=1.0), pipeline=str(pipeline), client=client
    )

    assert sum(report.stats.dead_lettered.values()) == 5
    out = StringIO()
    print_summary(report, Console(file=out, width=120))
    shown = re.search(r"Claude attempts\W+(\d+)", out.getvalue())
    assert shown is not None, out.getvalue()
    assert int(shown.group(1)) == len(client.calls) == 10
