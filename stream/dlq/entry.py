"""One DLQ record read back: its context headers decoded, its document id found.

Inspection and replay both start here. A record whose ``docstream.*`` headers do not
form a valid ``DeadLetter`` (written by another tool, or damaged) is kept as an entry
with ``letter=None`` and a one-line ``problem``: it is counted and reported, never
guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from stream.models import DeadLetter
from stream.ports import RawRecord

__all__ = ["DlqEntry", "document_id", "read_entry"]


@dataclass(frozen=True, slots=True)
class DlqEntry:
    record: RawRecord
    letter: DeadLetter | None
    document_id: str | None
    problem: str | None = None

    @property
    def coordinates(self) -> str:
        """``dlqtopic/partition/offset``: the value of ``docstream.replay.from``."""
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"

    @property
    def key_text(self) -> str | None:
        return _text(self.record.key)


def read_entry(record: RawRecord) -> DlqEntry:
    """Decode the context headers; a bad header set becomes ``problem``, not an exception."""
    doc_id = document_id(record.key, record.value)
    try:
        letter = DeadLetter.from_headers(record.headers)
    except ValidationError as exc:
        fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        problem = "bad or missing docstream headers: " + (", ".join(fields) or "unknown")
        return DlqEntry(record, None, doc_id, problem)
    return DlqEntry(record, letter, doc_id)


def document_id(key: bytes | None, value: bytes | None) -> str | None:
    """The JSON ``id`` when the value parses as a document object, else the key as text.

    Only the ``id`` field is read; the rest of the value is never kept or shown.
    """
    if value:
        try:
            data = json.loads(value)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]:
            return str(data["id"])
    return _text(key)


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
