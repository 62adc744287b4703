"""Pydantic wire models; the only source of the JSON Schema files in ``schemas/``."""

from stream.models.dead_letter import HEADER_PREFIX, DeadLetter, truncate_message
from stream.models.document import BadInput, Document, decode_document
from stream.models.pipeline_spec import PipelineSpec, StageSpec
from stream.models.result import (
    CacheCreation,
    CompletedStages,
    CostBreakdown,
    Result,
    SourceRef,
    StageOutput,
    Usage,
)

__all__ = [
    "HEADER_PREFIX",
    "BadInput",
    "CacheCreation",
    "CompletedStages",
    "CostBreakdown",
    "DeadLetter",
    "Document",
    "PipelineSpec",
    "Result",
    "SourceRef",
    "StageOutput",
    "StageSpec",
    "Usage",
    "decode_document",
    "truncate_message",
]
