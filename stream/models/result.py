"""The results value: what a document's pipeline produced, with its cost and lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Result", "SourceRef", "StageOutput", "Usage"]


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
        )


class StageOutput(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    json_output: Any | None = Field(None, alias="json", description="parsed JSON output")
    model: str = Field(description="the model that served the call (may be a fallback)")
    finish_reason: str
    usage: Usage
    cost_usd: float
    attempts: int
    latency_ms: float
    truncated: bool = False


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
    usage: Usage
    cost_usd: float = Field(description="estimate from the configured price table")
    latency_ms: float
    attempts: int = Field(description="Claude attempts over all stages")
    finish_reasons: list[str]
    truncated: bool
    worker_id: str
    trace_id: str | None = None
    replay_count: int = 0
    source: SourceRef
    processed_at: datetime
