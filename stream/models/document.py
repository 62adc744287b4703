"""The input value: one document, as JSON, on the input topic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["BadInput", "Document", "decode_document"]


class Document(BaseModel):
    """A document to process. Key on the topic: ``id`` unless the publisher chose another."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=256, description="unique document id")
    text: str = Field(description="the document body; it only ever reaches the user turn")
    metadata: dict[str, Any] | None = Field(
        None, description="free-form object, available to templates as metadata.<key>"
    )
    pipeline: str | None = Field(None, description="pipeline name; None = the worker's pipeline")
    priority: int = Field(0, ge=-100, le=100)


@dataclass(frozen=True, slots=True)
class BadInput(Exception):
    """Input bytes that can never become a Document. ``error_class`` is a DLQ header value."""

    error_class: str  # invalid_utf8 | invalid_json | too_deep | schema | too_large | empty
    message: str

    def __str__(self) -> str:
        return f"{self.error_class}: {self.message}"


def decode_document(raw: bytes | None, *, max_text_bytes: int) -> Document:
    """Bytes -> Document, or BadInput naming the first thing wrong. Never echoes the text."""
    if not raw:
        raise BadInput("empty", "record value is empty or a tombstone")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("invalid_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    data = _parse_json(decoded)
    if not isinstance(data, dict):
        raise BadInput("schema", f"expected a JSON object, got {type(data).__name__}")
    text = data.get("text")
    if isinstance(text, str):
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:  # JSON can escape a lone surrogate: "\ud800"
            raise BadInput(
                "invalid_utf8", f"unpaired surrogate escape at char {exc.start}"
            ) from None
        if size > max_text_bytes:
            raise BadInput("too_large", f"text is over the {max_text_bytes}-byte limit")
    try:
        return Document.model_validate(data)
    except ValidationError as exc:
        raise BadInput("schema", _schema_message(exc)) from None


def _parse_json(decoded: str) -> Any:
    """JSON text -> Python value; every way the parser can fail is bad input, not a crash."""
    try:
        return json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise BadInput("invalid_json", f"not JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise BadInput("too_deep", "JSON nested too deeply to decode") from None
    except ValueError:  # an integer literal over Python's 4300-digit conversion limit
        raise BadInput("invalid_json", "a JSON number is too long to convert") from None


def _schema_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        field = _field_name(err["loc"])
        hint = " (put extra fields under metadata)" if err["type"] == "extra_forbidden" else ""
        parts.append(f"{field}: {err['msg']}{hint}")
    return "; ".join(parts)


def _field_name(loc: tuple[int | str, ...]) -> str:
    # Only our own field names are shown: an unknown key is document content.
    if not loc:
        return "document"
    return str(loc[0]) if loc[0] in Document.model_fields else "an unknown field"
