"""Wire models: validation of input documents, DLQ header round trip, schema drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from stream.models import BadInput, DeadLetter, decode_document
from stream.models.export import render_schemas

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
DEEP = b"[" * 50_000 + b"]" * 50_000


def test_decode_document_accepts_a_valid_document() -> None:
    """id, text, metadata object, pipeline and priority come through."""
    raw = json.dumps(
        {"id": "a", "text": "t", "metadata": {"k": 1}, "pipeline": "triage", "priority": 5}
    ).encode()
    doc = decode_document(raw, max_text_bytes=100)
    assert (doc.id, doc.metadata, doc.pipeline, doc.priority) == ("a", {"k": 1}, "triage", 5)


@pytest.mark.parametrize(
    ("raw", "error_class"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "invalid_utf8"),
        (b"{nope", "invalid_json"),
        (b"[1, 2]", "schema"),
        (b'{"id": "", "text": "x"}', "schema"),
        (b'{"id": "' + b"x" * 257 + b'", "text": "x"}', "schema"),
        (b'{"id": "a", "text": "x", "metadata": "str"}', "schema"),
        (b'{"id": "a", "text": "x", "title": "extra"}', "schema"),
        (b'{"id": "a", "text": "' + b"y" * 101 + b'"}', "too_large"),
        (b'{"id": "a", "text": "lone \\ud800 surrogate"}', "invalid_utf8"),
        (b'{"id":"x","text":"t","priority":' + b"1" * 5001 + b"}", "invalid_json"),
        (b"[" * 50_000 + b"]" * 50_000, "too_deep"),
        (
            b'{"id": "a", "text": "x", "metadata": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            "too_deep",
        ),
    ],
)
def test_decode_document_rejects_bad_input_with_its_class(raw: bytes, error_class: str) -> None:
    """Every way input can be wrong maps to one DLQ error class."""
    with pytest.raises(BadInput) as caught:
        decode_document(raw, max_text_bytes=100)
    assert caught.value.error_class == error_class


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_DOCUMENTISH = st.fixed_dictionaries(
    {"id": st.text(max_size=8), "text": st.text(max_size=8)},
    optional={"metadata": _JSON, "priority": _JSON, "pipeline": _JSON, "extra": _JSON},
)


@given(
    raw=st.one_of(
        st.binary(max_size=64),
        _JSON.map(lambda v: json.dumps(v).encode()),
        _DOCUMENTISH.map(lambda v: json.dumps(v).encode()),
    )
)
@example(raw=b'{"id":"x","text":"t","priority":' + b"9" * 5001 + b"}")
@example(raw=DEEP)
def test_decode_document_any_bytes_become_a_document_or_bad_input(raw: bytes) -> None:
    """Whatever the bytes, decoding either succeeds or raises BadInput: never anything
    else, which would crash the worker on that record after every restart."""
    try:
        decode_document(raw, max_text_bytes=100)
    except BadInput as bad:
        assert bad.error_class and bad.message


def test_decode_document_error_never_echoes_the_text() -> None:
    """Error messages describe the problem without quoting document text."""
    with pytest.raises(BadInput) as caught:
        decode_document(b'{"id": "a", "text": 5, "secret": "TOPSECRET"}', max_text_bytes=100)
    assert "TOPSECRET" not in str(caught.value)
    assert "metadata" in str(caught.value)  # the hint for the extra field


def test_dead_letter_headers_round_trip() -> None:
    """to_headers() then from_headers() gives the same context back."""
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    letter = DeadLetter(
        original_topic="documents",
        original_partition=3,
        original_offset=42,
        original_timestamp=1_700_000_000_000,
        consumer_group="g",
        outcome="refused",
        error_class="refusal",
        error_message="stop_reason refusal",
        http_status=200,
        request_id="req_1",
        stage="summary",
        model="claude-x",
        attempts=1,
        first_failure_at=now,
        last_failure_at=now,
        worker_id="w1",
        replay_count=2,
    )
    headers = letter.to_headers()
    assert ("docstream.original.offset", b"42") in headers
    assert all(name.startswith("docstream.") for name, _ in headers)
    assert DeadLetter.from_headers(headers) == letter


def test_schemas_directory_matches_the_models() -> None:
    """schemas/*.json are exactly what `docstream schemas export` writes today."""
    expected = render_schemas()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.json")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    assert not stale, f"schemas/ out of date: {stale}; run `docstream schemas export`"
    assert set(on_disk) == set(expected)
