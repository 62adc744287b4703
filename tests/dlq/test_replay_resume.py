"""Replay resumes at the failed stage: the DLQ record carries the finished stages, the
worker does not call them again, and the Result says which stages were reused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stream.config import Settings
from stream.dlq.records import COMPLETED_HEADER
from stream.models import CompletedStages
from stream.simulator import SimulatorServer
from tests.dlq.helpers import FAST, doc, header, publish, read_all, replay_once, run_worker_sdk
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka

# The second stage fails twice (both attempts: retries exhausted), then succeeds.
PIPELINE = """
name: two_step
stages:
  - name: first
    system: Summarise the document.
  - name: second
    depends_on: [first]
    system: Recommend an action.
    user: "[[sim:error500*2]] {{ stages.first }}"
"""


async def _dead_lettered_at_second(
    settings_factory: SettingsFactory, simulator: SimulatorServer, tmp_path: Path
) -> tuple[Settings, Path]:
    """One document through PIPELINE: first succeeds, second fails and goes to the DLQ."""
    path = tmp_path / "two_step.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    settings = settings_factory(
        FAST, **{"claude.base_url": simulator.base_url, "processing.pipeline_file": str(path)}
    )
    await publish(settings, [doc("d1", "a document worth two stages")])
    await run_worker_sdk(settings)
    return settings, path


async def test_replay_calls_only_the_failed_stage_and_marks_the_reused_one(
    settings_factory: SettingsFactory, simulator: SimulatorServer, tmp_path: Path
) -> None:
    """first succeeds, second fails -> DLQ with first's output; replay -> one call (second),
    the Result reuses first unchanged and counts only second's cost."""
    settings, _ = await _dead_lettered_at_second(settings_factory, simulator, tmp_path)
    (letter,) = await read_all(settings, settings.kafka.topics.dlq)
    carried = CompletedStages.model_validate_json(header(letter, COMPLETED_HEADER) or "")
    assert list(carried.stages) == ["first"] and carried.pipeline == "two_step"
    assert carried.stages["first"].usage.input_tokens > 0
    calls_before = simulator.stats()["requests_total"]

    await replay_once(settings)
    await run_worker_sdk(settings)

    assert simulator.stats()["requests_total"] - calls_before == 1
    (raw,) = await read_all(settings, settings.kafka.topics.results)
    result: dict[str, Any] = json.loads(raw.value or b"")
    assert result["reused_stages"] == ["first"]
    assert result["outputs"]["first"]["reused"] is True
    assert result["outputs"]["second"]["reused"] is False
    assert result["outputs"]["first"]["text"] == carried.stages["first"].text
    assert result["cost_usd"] == pytest.approx(result["outputs"]["second"]["cost_usd"])


async def test_replay_into_a_changed_pipeline_calls_every_stage(
    settings_factory: SettingsFactory, simulator: SimulatorServer, tmp_path: Path
) -> None:
    """A stored stage made by another pipeline version is not reused."""
    settings, path = await _dead_lettered_at_second(settings_factory, simulator, tmp_path)
    path.write_text(PIPELINE.replace("Summarise the document.", "Summarise it."), "utf-8")
    calls_before = simulator.stats()["requests_total"]

    await replay_once(settings)
    await run_worker_sdk(settings)

    assert simulator.stats()["requests_total"] - calls_before == 2
    (raw,) = await read_all(settings, settings.kafka.topics.results)
    assert json.loads(raw.value or b"")["reused_stages"] == []


def test_inspect_shows_completed_stage_names_not_their_outputs() -> None:
    """Stage outputs derive from the document: `dlq inspect` names them unless values are
    asked for."""
    from stream.dlq.entry import read_entry
    from stream.dlq.inspect import sample
    from stream.ports import RawRecord
    from tests.dlq.helpers import letter_record

    carried = '{"pipeline": "p", "version": "v", "stages": {"first": {"text": "SECRET-OUT"}}}'
    key, value, headers = letter_record(
        "d1", original_topic="documents", extra_headers=[(COMPLETED_HEADER, carried.encode())]
    )
    entry = read_entry(RawRecord("documents.dlq", 0, 3, 0, key, value, tuple(headers)))
    hidden = sample(entry, show_values=False).context["completed_stages"]
    shown = sample(entry, show_values=True).context["completed_stages"]
    assert "first" in hidden and "SECRET-OUT" not in hidden
    assert "SECRET-OUT" in shown
