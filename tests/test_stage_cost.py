"""Exact cost per stage and per document: every billed call, each token kind priced."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from stream.calls import Caller
from stream.claude.types import CallRequest, CallResult
from stream.concurrency import CircuitBreaker, MonotonicClock
from stream.config import load_settings
from stream.errors import Outcome
from stream.models import CacheCreation, Document, Usage
from stream.pipeline import load_pipeline, run_pipeline
from stream.ports import RawRecord
from stream.results import build_result
from stream.telemetry.metrics import Metrics
from stream.telemetry.observer import CallTelemetry

PIPELINE = """
name: costed
stages:
  - name: facts
    system: Answer in JSON only.
    user: "{{ document }}"
    output: json
    json_schema: {type: object, required: [ok]}
"""

# Each call: 1M input, 1M output, 1M read, 1M 5m write, 1M 1h write (Sonnet list prices).
USAGE = Usage(
    input_tokens=1_000_000,
    output_tokens=1_000_000,
    cache_read_input_tokens=1_000_000,
    cache_creation_input_tokens=2_000_000,
    cache_creation=CacheCreation(
        ephemeral_5m_input_tokens=1_000_000, ephemeral_1h_input_tokens=1_000_000
    ),
)
PER_CALL_USD = 3 + 15 + 0.3 + 3.75 + 6


class InvalidThenValid:
    """The first answer is not the schema's JSON (a repair follows), the second is."""

    def __init__(self) -> None:
        self.calls = 0

    async def call(self, request: CallRequest) -> CallResult:
        self.calls += 1
        text = '{"nope": 1}' if self.calls == 1 else '{"ok": true}'
        return CallResult(
            Outcome.SUCCESS,
            text=text,
            finish_reason="end_turn",
            usage=USAGE,
            model="claude-sonnet-4-6",
            http_status=200,
        )

    async def count_tokens(self, request: CallRequest) -> int:
        return 1

    async def aclose(self) -> None:
        return None


async def test_result_cost_counts_the_repair_call_and_prices_each_token_kind(
    tmp_path: Path,
) -> None:
    """A stage repaired once paid for two calls: usage, cost and breakdown say so, and the
    metrics' totals agree with the Result to the cent."""
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    pipeline = load_pipeline(path, default_model="claude-sonnet-4-6", default_max_tokens=100)
    settings = load_settings()
    clock = MonotonicClock()
    metrics = Metrics()
    client = InvalidThenValid()
    caller = Caller(
        client,
        settings.limits,
        clock,
        breaker=CircuitBreaker(clock),
        observer=CallTelemetry(metrics, clock.now),
        prices=settings.claude.prices,
    )
    run = await run_pipeline(pipeline, Document(id="d", text="t"), caller)
    assert run.failure is None and client.calls == 2
    result = build_result(
        record=RawRecord("documents", 0, 7, 0, b"d", b"{}", ()),
        document_id="d",
        pipeline=pipeline.name,
        outputs=run.outputs,
        worker_id="w",
        trace_id=None,
        replay_count=0,
        latency_ms=1.0,
    )
    stage = result.outputs["facts"]
    assert stage.usage == USAGE + USAGE
    assert stage.cost_usd == pytest.approx(2 * PER_CALL_USD)
    assert stage.cost.cache_write_1h_usd == pytest.approx(12.0)
    assert stage.cost.cache_write_5m_usd == pytest.approx(7.5)
    assert stage.cost.cache_read_usd == pytest.approx(0.6)
    assert result.cost_usd == pytest.approx(2 * PER_CALL_USD)
    assert result.cost == stage.cost
    assert Decimal(str(metrics.totals().cost_usd)) == pytest.approx(Decimal(str(result.cost_usd)))
    assert metrics.totals().cost_cache_write_usd == pytest.approx(19.5)
