"""Turning a finished pipeline run into a Result record."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from stream.claude.cost import cost_usd
from stream.config import ModelPrice
from stream.errors import Outcome
from stream.kafka.reader import RawRecord
from stream.models import Result, SourceRef, StageOutput, Usage
from stream.pipeline import StageDone

__all__ = ["build_result"]


def build_result(
    *,
    record: RawRecord,
    document_id: str,
    pipeline: str,
    outputs: Mapping[str, StageDone],
    prices: Mapping[str, ModelPrice],
    worker_id: str,
    trace_id: str | None,
    replay_count: int,
    latency_ms: float,
) -> Result:
    stage_outputs: dict[str, StageOutput] = {}
    total = Usage()
    cost = 0.0
    for name, done in outputs.items():
        final = done.record.final
        stage_cost = cost_usd(done.record.model, final.usage, prices)
        stage_outputs[name] = StageOutput(
            text=done.text,
            json=done.json_value,
            model=final.model or done.record.model,
            finish_reason=final.finish_reason or "end_turn",
            usage=final.usage,
            cost_usd=round(stage_cost, 8),
            attempts=done.attempts,
            latency_ms=round(final.latency_s * 1000, 3),
            truncated=done.record.outcome is Outcome.TRUNCATED,
        )
        total = total + final.usage
        cost += stage_cost
    return Result(
        document_id=document_id,
        pipeline=pipeline,
        outputs=stage_outputs,
        models=sorted({o.model for o in stage_outputs.values()}),
        usage=total,
        cost_usd=round(cost, 8),
        latency_ms=round(latency_ms, 3),
        attempts=sum(o.attempts for o in stage_outputs.values()),
        finish_reasons=[o.finish_reason for o in stage_outputs.values()],
        truncated=any(o.truncated for o in stage_outputs.values()),
        worker_id=worker_id,
        trace_id=trace_id,
        replay_count=replay_count,
        source=SourceRef(topic=record.topic, partition=record.partition, offset=record.offset),
        processed_at=datetime.now(UTC),
    )
