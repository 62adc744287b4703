"""A pipeline file: named prompt stages with dependencies (validated by stream.pipeline)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PipelineSpec", "StageSpec"]


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    model: str | None = Field(None, description="None = claude.model from the settings")
    system: str = Field("", description="constant instructions; may not reference the document")
    user: str = Field(
        "{{ document }}",
        description="template of the user turn: {{ document }}, {{ id }}, {{ metadata.K }}, "
        "{{ stages.NAME }} (a dependency's output)",
    )
    max_tokens: int | None = Field(None, ge=1, le=128_000)
    temperature: float | None = Field(None, ge=0, le=1)
    depends_on: list[str] = Field(default_factory=list)
    output: Literal["text", "json"] = "text"
    json_schema: dict[str, Any] | None = Field(
        None, description="for output=json: the JSON Schema the output must satisfy"
    )
    fallback_model: str | None = None
    fallback_after: int = Field(2, ge=1, description="overloaded outcomes before falling back")


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    stages: list[StageSpec] = Field(min_length=1)
