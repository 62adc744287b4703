"""A pipeline file: named prompt stages with dependencies (validated by stream.pipeline)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PipelineSpec", "StageSpec"]


STAGE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=STAGE_NAME_PATTERN)
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
    instructions: str = Field(
        "",
        description="shared system prompt of every stage; a stage's own system text then "
        "follows the document in its user turn, so the stages share a cacheable prefix",
    )
    cache: Literal["auto", "off", "1h"] = Field(
        "auto",
        description="prompt-cache breakpoints where they pay back (auto: 5-minute entries, "
        "1h: 1-hour entries, off: none)",
    )
    warm_cache: bool = Field(
        True,
        description="of independent stages sharing a cacheable document prefix, run the "
        "first alone so the others read the cache instead of all writing it",
    )
    stages: list[StageSpec] = Field(min_length=1)

    @field_validator("cache", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `cache: off` as false.
        return "off" if value is False else value
