"""Resume after a fatal pause: a spend cap met by a later stage holds that call at the
fatal gate; when the gate reopens the document goes on, and the stage that had finished
is not paid for again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from stream.claude.client import AnthropicClaudeClient
from stream.concurrency import MonotonicClock
from stream.config import load_settings
from stream.models import Document
from stream.pipeline import load_pipeline, run_pipeline
from stream.telemetry.metrics import Metrics
from stream.worker import build_caller

pytestmark = pytest.mark.timeout(60)
Factory = Callable[..., Awaitable[Any]]

PIPELINE = """
name: capped
stages:
  - name: first
    system: Summarise the document.
  - name: second
    depends_on: [first]
    system: Recommend an action.
    user: "[[sim:spend_cap*1]] {{ stages.first }}"
"""


async def test_spend_cap_on_a_later_stage_does_not_rerun_the_finished_one(
    simulator_factory: Factory, tmp_path: Path
) -> None:
    """first: 1 request; second: the spend cap, then (after the pause) its answer."""
    server = await simulator_factory()
    path = tmp_path / "capped.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    pipeline = load_pipeline(path, default_model="claude-sonnet-4-5", default_max_tokens=100)
    settings = load_settings(overrides={"limits.pause_on_fatal_s": 0.05})
    client = AnthropicClaudeClient(api_key="sk-sim", base_url=server.base_url, pool_size=4)
    try:
        caller = build_caller(settings, client, MonotonicClock(), Metrics())
        run = await run_pipeline(pipeline, Document(id="d", text="a report"), caller)
    finally:
        await client.aclose()
    assert run.failure is None
    assert server.stats()["requests_total"] == 3
    assert run.outputs["first"].attempts == 1
    assert run.outputs["first"].cost.total > 0
