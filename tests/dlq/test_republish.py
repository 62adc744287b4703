"""The record a replay sends for one DLQ record (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from stream.dlq.entry import read_entry
from stream.dlq.republish import republish
from stream.ports import RawRecord
from tests.dlq.helpers import TRACEPARENT, letter_record


def _dlq_record(**kwargs: Any) -> RawRecord:
    key, value, headers = letter_record("doc-1", original_topic="docs", **kwargs)
    return RawRecord("docs.dlq", 2, 41, 0, key, value, tuple(headers))


def test_republish_keeps_value_key_and_foreign_headers_sets_replay_headers() -> None:
    """Original bytes, key and publisher headers; count+1, from, link; no old context."""
    record = _dlq_record(replay_count=2, extra_headers=[("tracestate", b"a=b")])

    out = republish(read_entry(record), to=None)

    assert (out.topic, out.key, out.value) == ("docs", record.key, record.value)
    assert out.headers == [
        ("publisher", b"p1"),
        ("docstream.replay.count", b"3"),
        ("docstream.replay.from", b"docs.dlq/2/41"),
        ("docstream.replay.traceparent", TRACEPARENT.encode()),
    ]


def test_republish_to_overrides_topic_and_no_traceparent_means_no_link() -> None:
    """--to wins over the original topic; without a traceparent there is no link header."""
    key, value, headers = letter_record("doc-1", original_topic="docs")
    headers = [h for h in headers if h[0] != "traceparent"]
    record = RawRecord("docs.dlq", 0, 0, 0, key, value, tuple(headers))

    out = republish(read_entry(record), to="elsewhere")

    assert out.topic == "elsewhere"
    assert "docstream.replay.traceparent" not in dict(out.headers)
    assert dict(out.headers)["docstream.replay.count"] == b"1"


def test_republish_record_without_context_raises() -> None:
    """A foreign record cannot be replayed: its original topic is unknown."""
    record = RawRecord("docs.dlq", 0, 0, 0, b"k", b"v", ())
    with pytest.raises(ValueError, match="not a docstream DLQ record"):
        republish(read_entry(record), to=None)
