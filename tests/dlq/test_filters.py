"""Filters, their fingerprint (the replay group name) and the verdict on one DLQ record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.dlq.entry import DlqEntry, document_id, read_entry
from stream.dlq.filters import ReplayFilters, TimeBound, Verdict
from stream.dlq.replay import replay_group
from stream.ports import RawRecord
from tests.dlq.helpers import letter_record

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
names = st.lists(st.sampled_from(["a", "b", "c", "refused", "x.y"]), max_size=6)


def _entry(doc_id: str = "d1", **kwargs: Any) -> DlqEntry:
    key, value, headers = letter_record(doc_id, original_topic="docs", **kwargs)
    return read_entry(RawRecord("dlq", 0, 3, 0, key, value, tuple(headers)))


def test_timebound_parse_relative_and_iso_forms_resolve_against_now() -> None:
    """Ages count back from now; ISO times without a zone are UTC; Z is accepted."""
    assert TimeBound.parse("2h").resolve(NOW) == NOW - timedelta(hours=2)
    assert TimeBound.parse("90s").resolve(NOW) == NOW - timedelta(seconds=90)
    assert TimeBound.parse("1.5d").resolve(NOW) == NOW - timedelta(hours=36)
    assert TimeBound.parse("2025-04-30T10:00:00").resolve(NOW) == datetime(
        2025, 4, 30, 10, tzinfo=UTC
    )
    assert TimeBound.parse("2025-04-30T12:00:00+02:00").resolve(NOW) == datetime(
        2025, 4, 30, 10, tzinfo=UTC
    )
    assert TimeBound.parse("2025-04-30T10:00:00Z").normalised() == "2025-04-30T10:00:00+00:00"


@pytest.mark.parametrize("text", ["", "yesterday", "2x", "-2h", "2025-13-01"])
def test_timebound_parse_garbage_raises_valueerror_naming_forms(text: str) -> None:
    """A bad time says which forms are allowed."""
    with pytest.raises(ValueError, match="ISO time"):
        TimeBound.parse(text)


@given(outcomes=names, classes=names, ids=names, data=st.data())
def test_fingerprint_same_selection_any_order_or_duplicates_is_equal(
    outcomes: list[str], classes: list[str], ids: list[str], data: st.DataObject
) -> None:
    """Order and repetition of values never change the fingerprint (the replay group)."""
    first = ReplayFilters(outcomes=tuple(outcomes), error_classes=tuple(classes), ids=tuple(ids))
    shuffled = ReplayFilters(
        outcomes=tuple(data.draw(st.permutations(outcomes + outcomes[:1]))),
        error_classes=tuple(data.draw(st.permutations(classes))),
        ids=tuple(data.draw(st.permutations(ids + ids))),
    )
    assert first.fingerprint() == shuffled.fingerprint()


@given(a=names, b=names)
def test_fingerprint_different_selection_differs(a: list[str], b: list[str]) -> None:
    """Different value sets get different fingerprints (so different replay positions)."""
    fa = ReplayFilters(outcomes=tuple(a)).fingerprint()
    fb = ReplayFilters(outcomes=tuple(b)).fingerprint()
    assert (fa == fb) == (set(a) == set(b))


def test_fingerprint_equal_ages_agree_limit_ignored_field_names_matter() -> None:
    """2h == 120m; limit is not part of the set; the same value in another field differs."""
    assert (
        ReplayFilters(since=TimeBound.parse("2h")).fingerprint()
        == ReplayFilters(since=TimeBound.parse("120m"), limit=5).fingerprint()
    )
    assert ReplayFilters(keys=("a",)).fingerprint() != ReplayFilters(ids=("a",)).fingerprint()
    assert ReplayFilters(since=TimeBound.parse("2h")).fingerprint() != (
        ReplayFilters(until=TimeBound.parse("2h")).fingerprint()
    )


def test_replay_group_no_filter_is_base_dot_replay_else_hash_suffix() -> None:
    """The default position is <group>.replay; a filter set gets its own suffix."""
    assert replay_group("docstream", ReplayFilters(limit=3)) == "docstream.replay"
    filtered = ReplayFilters(outcomes=("refused",))
    assert replay_group("docstream", filtered) == f"docstream.replay.{filtered.fingerprint()}"
    assert len(filtered.fingerprint()) == 12


def test_verdict_each_filter_selects_what_it_names() -> None:
    """Each criterion matches on its own header; several must all hold."""
    entry = _entry(
        "doc-9",
        outcome="bad_request",
        error_class="prompt_too_long",
        stage="classify",
        key=b"k-9",
        failed_at=NOW - timedelta(hours=1),
    )
    select = {
        "outcome": ReplayFilters(outcomes=("bad_request",)),
        "class": ReplayFilters(error_classes=("refusal", "prompt_too_long")),
        "stage": ReplayFilters(stages=("classify",)),
        "key": ReplayFilters(keys=("k-9",)),
        "id from json": ReplayFilters(ids=("doc-9",)),
        "id from key": ReplayFilters(ids=("k-9",)),
        "since": ReplayFilters(since=TimeBound.parse("2h")),
        "until": ReplayFilters(until=TimeBound.parse("30m")),
        "all": ReplayFilters(outcomes=("bad_request",), stages=("classify",)),
    }
    reject = {
        "outcome": ReplayFilters(outcomes=("refused",)),
        "class": ReplayFilters(error_classes=("refusal",)),
        "stage": ReplayFilters(stages=("summary",)),
        "key": ReplayFilters(keys=("doc-9",)),
        "id": ReplayFilters(ids=("doc-1",)),
        "since": ReplayFilters(since=TimeBound.parse("30m")),
        "one of two": ReplayFilters(outcomes=("bad_request",), stages=("summary",)),
    }
    for name, filters in select.items():
        assert filters.resolve(NOW).verdict(entry) is Verdict.MATCH, name
    for name, filters in reject.items():
        assert filters.resolve(NOW).verdict(entry) is Verdict.FILTERED, name
    too_new = ReplayFilters(until=TimeBound.parse("2h")).resolve(NOW)
    assert too_new.verdict(entry) is Verdict.TOO_NEW


def test_verdict_record_without_docstream_headers_is_invalid() -> None:
    """A foreign record is INVALID, with a problem naming the missing fields."""
    entry = read_entry(RawRecord("dlq", 0, 0, 0, b"k", b"v", (("x", b"y"),)))
    assert ReplayFilters().resolve(NOW).verdict(entry) is Verdict.INVALID
    assert entry.problem is not None and "original_topic" in entry.problem


def test_document_id_prefers_json_id_then_key_and_survives_garbage() -> None:
    """The JSON id wins when the value parses; else the key; binary keys become hex."""
    assert document_id(b"k", b'{"id": "j", "text": "t"}') == "j"
    assert document_id(b"k", b"\xff not json") == "k"
    assert document_id(b"k", b'["id"]') == "k"
    assert document_id(b"\xff\x00", None) == "0xff00"
    assert document_id(None, b"") is None
