"""model_json_schema() -> schemas/*.schema.json (``docstream schemas export``)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from stream.models import DeadLetter, Document, PipelineSpec, Result

__all__ = ["SCHEMA_MODELS", "export_schemas", "render_schemas"]

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "document": Document,
    "result": Result,
    "dead_letter": DeadLetter,
    "pipeline": PipelineSpec,
}


def render_schemas() -> dict[str, str]:
    """File name -> file text, deterministic so a drift test can compare bytes."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True)
        + "\n"
        for name, model in SCHEMA_MODELS.items()
    }


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
