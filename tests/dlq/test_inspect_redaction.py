"""``dlq inspect --show`` without ``--show-values`` echoes nothing a document could be in."""

from __future__ import annotations

import json

import pytest

from stream.dlq.entry import read_entry
from stream.dlq.inspect import sample
from stream.dlq.records import COMPLETED_HEADER
from stream.ports import RawRecord
from tests.dlq.helpers import TRACEPARENT, letter_record

SECRET = "Patient Jane Q. Example"


def _sample(headers: list[tuple[str, bytes]], *, show_values: bool) -> str:
    key, value, base = letter_record("d1", original_topic="documents", extra_headers=headers)
    entry = read_entry(RawRecord("documents.dlq", 0, 3, 0, key, value, tuple(base)))
    return json.dumps(sample(entry, show_values=show_values).to_dict())


@pytest.mark.parametrize(
    "stages",
    [SECRET, [SECRET], {SECRET: {"text": "x"}}, {"first": {}, "Jane Q": {}}],
    ids=["a string", "a list", "a key that is no stage name", "one key of two"],
)
def test_a_damaged_completed_header_is_not_echoed(stages: object) -> None:
    """Only a "stages" object keyed by stage names is shown, and by name only: a string
    under "stages" used to come out sorted letter by letter, a list as it was."""
    carried = json.dumps({"pipeline": "p", "version": "v", "stages": stages})
    shown = _sample([(COMPLETED_HEADER, carried.encode())], show_values=False)
    assert '"completed_stages": "(unreadable)"' in shown
    assert "Jane" not in shown and "J, P, Q" not in shown


def test_producer_headers_show_their_size_unless_values_are_asked_for() -> None:
    """A header the producer set may hold document text (a title): its size only, while
    the trace context stays readable."""
    trace = TRACEPARENT.encode()
    headers = [("subject", SECRET.encode())]
    hidden = json.loads(_sample(headers, show_values=False))["headers"]
    assert hidden["subject"] == "(23 bytes; value with --show-values)"
    assert hidden["traceparent"] == trace.decode()
    shown = json.loads(_sample(headers, show_values=True))["headers"]
    assert shown["subject"] == SECRET
