"""The pacer does not reserve input tokens a call is expected to read from the cache
(they do not count against ITPM), so a sibling stage reading the warmed prefix is not
held back by a tight ITPM bucket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from stream.claude.client import AnthropicClaudeClient
from stream.concurrency import ManualClock
from stream.config import load_settings
from stream.models import Document
from stream.pipeline import load_pipeline, run_pipeline
from stream.telemetry.metrics import Metrics
from stream.worker import build_caller

pytestmark = pytest.mark.timeout(60)
Factory = Callable[..., Awaitable[Any]]

PIPELINE = """
name: pair
instructions: "You review documents."
stages:
  - name: summary
    system: Summarise it.
  - name: labels
    system: Label it.
"""
MODEL = "claude-sonnet-4-5"


async def test_sibling_reading_the_cache_is_not_paced_on_its_cached_tokens(
    simulator_factory: Factory, tmp_path: Path
) -> None:
    """ITPM 3,000 and a ~2,000-token document: after the warming stage only ~1,000
    tokens are left, yet the reading stage goes at once (the clock never moves)."""
    server = await simulator_factory(itpm=3000, now=lambda: 1000.0)  # no refill either
    path = tmp_path / "pair.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    pipeline = load_pipeline(path, default_model=MODEL, default_max_tokens=100)
    clock = ManualClock()
    client = AnthropicClaudeClient(api_key="sk-sim", base_url=server.base_url, pool_size=4)
    caller = build_caller(load_settings(), client, clock, Metrics())
    run = asyncio.ensure_future(run_pipeline(pipeline, Document(id="d", text="w" * 8000), caller))
    blocked: set[str] = set()
    try:
        for _ in range(1000):  # waiting on real sockets; the manual clock never moves
            if run.done():
                break
            pacer = caller.controls[MODEL].pacer if MODEL in caller.controls else None
            if pacer is not None and pacer.blocked_on is not None:
                blocked.add(pacer.blocked_on)
                break
            await asyncio.sleep(0.01)
    finally:
        run.cancel()
        await client.aclose()
    assert not blocked
    outputs = run.result().outputs
    assert outputs["labels"].usage.cache_read_input_tokens > 1900
