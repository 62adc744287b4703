"""The results value: what a document's pipeline produced, with its cost and lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CacheCreation",
    "CompletedStages",
    "CostBreakdown",
    "Result",
    "SourceRef",
    "StageOutput",
    "Usage",
]


class CacheCreation(BaseModel):
    """The API's split of cache writes by lifetime (they are priced differently)."""

    model_config = ConfigDict(frozen=True)

    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class Usage(BaseModel):
    """Token usage as the Messages API reports it. ``input_tokens`` excludes cached
    tokens: the prompt was ``input + cache_creation + cache_read`` tokens long."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation: CacheCreation = Field(
        default_factory=CacheCreation,
        description="cache writes by lifetime; writes the API did not split count as 5m",
    )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_creation=CacheCreation(
                ephemeral_5m_input_tokens=self.cache_creation.ephemeral_5m_input_tokens
                + other.cache_creation.ephemeral_5m_input_tokens,
                ephemeral_1h_input_tokens=self.cache_creation.ephemeral_1h_input_tokens
                + other.cache_creation.ephemeral_1h_input_tokens,
            ),
        )

    @property
    def cache_write_1h_tokens(self) -> int:
        return min(self.cache_creation.ephemeral_1h_input_tokens, self.cache_creation_input_tokens)

    @property
    def cache_write_5m_tokens(self) -> int:
        """Every write that is not reported as 1h: an unsplit report is 5m, the default."""
        return self.cache_creation_input_tokens - self.cache_write_1h_tokens


class CostBreakdown(BaseModel):
    """USD by token kind, each at its own price; ``cost_usd`` beside it is the sum."""

    model_config = ConfigDict(frozen=True)

    input_usd: float = 0.0
    output_usd: float = 0.0
    cache_write_5m_usd: float = 0.0
    cache_write_1h_usd: float = 0.0
    cache_read_usd: float = 0.0


class StageOutput(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    json_output: Any | None = Field(None, alias="json", description="parsed JSON output")
    model: str = Field(description="the model that served the call (may be a fallback)")
    finish_reason: str
    usage: Usage
    cost_usd: float = Field(description="every paid attempt of this stage, from the price table")
    cost: CostBreakdown = Field(default_factory=CostBreakdown)
    attempts: int
    latency_ms: float
    truncated: bool = False
    reused: bool = Field(
        False,
        description="true when this output was made by an earlier processing of the document "
        "(carried by its DLQ record) and not called again; usage and cost are that call's",
    )


class CompletedStages(BaseModel):
    """Stages that succeeded before a document failed, as its DLQ record carries them."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    pipeline: str
    version: str = Field(description="the pipeline's version; a replay reuses only on a match")
    stages: dict[str, StageOutput]


class SourceRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int


class Result(BaseModel):
    """Key on the results topic: the document id."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    document_id: str
    pipeline: str
    outputs: dict[str, StageOutput]
    models: list[str] = Field(description="distinct models that served this document")
    usage: Usage = Field(description="the calls of this processing (reused stages excluded)")
    cost_usd: float = Field(
        description="estimate from the configured price table, for the calls of this "
        "processing (reused stages were paid before and are not counted again)"
    )
    cost: CostBreakdown = Field(default_factory=CostBreakdown)
    reused_stages: list[str] = Field(
        default_factory=list,
        description="stages not called again: taken from the DLQ record, or every stage of a "
        "duplicate",
    )
    duplicate_of: str | None = Field(
        None,
        description="dedup: the id of the document whose stored outputs this one got (same "
        "content and pipeline version, within the horizon); no call was made",
    )
    latency_ms: float
    attempts: int = Field(description="Claude attempts over all stages")
    finish_reasons: list[str]
    truncated: bool
    worker_id: str
    trace_id: str | None = None
    replay_count: int = 0
    source: SourceRef
    processed_at: datetime
