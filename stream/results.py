"""Turning a finished pipeline run into a Result record."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from stream.claude.cost import Cost
from stream.errors import Outcome
from stream.models import Result, SourceRef, StageOutput, Usage
from stream.pipeline import StageDone
from stream.ports import RawRecord

__all__ = ["build_result", "stage_output"]


def stage_output(done: StageDone) -> StageOutput:
    """One stage's part of the Result (also what a DLQ record carries for a replay)."""
    final = done.record.final
    return StageOutput(
        text=done.text,
        json=done.json_value,
        model=final.model or done.record.model,
        finish_reason=final.finish_reason or "end_turn",
        usage=done.usage,
        cost_usd=round(float(done.cost.total), 8),
        cost=done.cost.breakdown(),
        attempts=done.attempts,
        latency_ms=round(final.latency_s * 1000, 3),
        truncated=done.record.outcome is Outcome.TRUNCATED,
        reused=done.reused,
    )


def build_result(
    *,
    record: RawRecord,
    document_id: str,
    pipeline: str,
    outputs: Mapping[str, StageDone],
    worker_id: str,
    trace_id: str | None,
    replay_count: int,
    latency_ms: float,
    duplicate_of: str | None = None,
) -> Result:
    """Document totals (usage, cost, attempts) count this processing's calls only."""
    stage_outputs = {name: stage_output(done) for name, done in outputs.items()}
    paid = [done for done in outputs.values() if not done.reused]
    total = sum((done.usage for done in paid), Usage())
    cost = sum((done.cost for done in paid), Cost())
    return Result(
        document_id=document_id,
        pipeline=pipeline,
        outputs=stage_outputs,
        models=sorted({o.model for o in stage_outputs.values()}),
        usage=total,
        cost_usd=round(float(cost.total), 8),
        cost=cost.breakdown(),
        latency_ms=round(latency_ms, 3),
        attempts=sum(done.attempts for done in paid),
        finish_reasons=[o.finish_reason for o in stage_outputs.values()],
        truncated=any(o.truncated for o in stage_outputs.values()),
        worker_id=worker_id,
        trace_id=trace_id,
        replay_count=replay_count,
        reused_stages=sorted(name for name, done in outputs.items() if done.reused),
        duplicate_of=duplicate_of,
        source=SourceRef(topic=record.topic, partition=record.partition, offset=record.offset),
        processed_at=datetime.now(UTC),
    )
