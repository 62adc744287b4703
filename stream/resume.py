"""Never pay twice for a finished stage: completed stages ride in the DLQ record and back.

When a later stage of a document fails, the stages that succeeded (outputs, models, token
counts, cost) go into the DLQ record's ``docstream.stages.completed`` header as a
``CompletedStages`` object. A replay copies the header onto the republished record, and
the worker takes those stages as done (``run_pipeline(reuse=...)``), calling only the
failed stage and what comes after it. A stored stage is reused only by the same pipeline
at the same version (a changed prompt, model or schema calls again), and an unreadable
header is ignored with a warning: the document is then simply processed in full.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pydantic import ValidationError

from stream.calls import CallRecord
from stream.claude.cost import Cost
from stream.claude.types import CallResult
from stream.dedup.index import StoredOutputs
from stream.dlq.records import COMPLETED_HEADER
from stream.errors import Outcome
from stream.models import CompletedStages, StageOutput
from stream.pipeline import Pipeline, StageDone
from stream.results import stage_output

__all__ = ["completed_stages", "reusable_stages", "stored_stages"]

log = logging.getLogger(__name__)


def completed_stages(pipeline: Pipeline, outputs: Mapping[str, StageDone]) -> str | None:
    """The header value for a failed document's finished stages (None: nothing to carry)."""
    if not outputs:
        return None
    carried = CompletedStages(
        pipeline=pipeline.name,
        version=pipeline.version,
        stages={name: stage_output(done) for name, done in outputs.items()},
    )
    return carried.model_dump_json(by_alias=True)


def reusable_stages(
    headers: Sequence[tuple[str, bytes]], pipeline: Pipeline
) -> dict[str, StageDone]:
    """The stages a record's header says are done, if made by this pipeline version."""
    raw = next((value for name, value in headers if name == COMPLETED_HEADER), None)
    if raw is None:
        return {}
    try:
        carried = CompletedStages.model_validate_json(raw)
    except ValidationError:
        log.warning("ignoring an unreadable %s header: every stage runs again", COMPLETED_HEADER)
        return {}
    if (carried.pipeline, carried.version) != (pipeline.name, pipeline.version):
        log.info("completed stages were made by another pipeline version: calling again")
        return {}
    return {
        name: _reused(name, output)
        for name, output in carried.stages.items()
        if name in pipeline.stages
    }


def stored_stages(stored: StoredOutputs, pipeline: Pipeline) -> dict[str, StageDone]:
    """A dedup hit's outputs (the same ``CompletedStages`` form), all marked reused."""
    return reusable_stages([(COMPLETED_HEADER, stored.outputs)], pipeline)


def _reused(name: str, output: StageOutput) -> StageDone:
    outcome = Outcome.TRUNCATED if output.truncated else Outcome.SUCCESS
    cost = Cost(**{kind: Decimal(str(usd)) for kind, usd in _kinds(output).items()})
    final = CallResult(
        outcome,
        text=output.text,
        finish_reason=output.finish_reason,
        usage=output.usage,
        model=output.model,
        latency_s=output.latency_ms / 1000,
    )
    record = CallRecord(
        final, outcome, output.attempts, output.model, None, None, output.usage, cost
    )
    return StageDone(
        name, output.text, output.json_output, record, output.attempts, output.usage, cost, True
    )


def _kinds(output: StageOutput) -> dict[str, float]:
    breakdown = output.cost
    return {
        "input": breakdown.input_usd,
        "output": breakdown.output_usd,
        "cache_write_5m": breakdown.cache_write_5m_usd,
        "cache_write_1h": breakdown.cache_write_1h_usd,
        "cache_read": breakdown.cache_read_usd,
    }
