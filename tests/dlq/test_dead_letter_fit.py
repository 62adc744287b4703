"""A DLQ record always fits under the producer's limit: cut, and marked so, when it must."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from stream.dlq.records import dead_letter_record
from stream.errors import Failure, Outcome
from stream.models import DeadLetter
from stream.ports import RawRecord

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FAILURE = Failure(Outcome.BAD_INPUT, "too_large", "text is over the limit", NOW, NOW)
LIMIT = 64 * 1024


def _record(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> RawRecord:
    return RawRecord("documents", 3, 77, 1_700_000_000_000, key, value, tuple(headers))


def _size(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    return len(key or b"") + len(value) + sum(len(k.encode()) + len(v) for k, v in headers)


def test_a_record_that_fits_keeps_its_bytes_key_and_headers_unmarked() -> None:
    record = _record(b"k", b"v" * 1000, [("publisher", b"p1")])
    letter = dead_letter_record(record, FAILURE, group="g", worker_id="w", max_bytes=LIMIT)
    assert (letter.key, letter.value) == (b"k", record.value)
    assert letter.headers[0] == ("publisher", b"p1")
    context = DeadLetter.from_headers(letter.headers)
    assert context.original_truncated is None and context.original_size is None


@given(
    key=st.one_of(st.none(), st.binary(max_size=3 * LIMIT)),
    value_size=st.integers(0, 4 * LIMIT),
    header_size=st.integers(0, 2 * LIMIT),
)
def test_any_record_fits_and_a_cut_one_names_what_was_cut_with_size_and_hash(
    key: bytes | None, value_size: int, header_size: int
) -> None:
    value = bytes(i % 251 for i in range(value_size))
    headers = [("publisher", b"h" * header_size)] if header_size else []
    record = _record(key, value, headers)

    letter = dead_letter_record(record, FAILURE, group="g", worker_id="w", max_bytes=LIMIT)

    assert _size(letter.key, letter.value, letter.headers) <= LIMIT
    context = DeadLetter.from_headers(letter.headers)
    assert context.original_offset == 77 and context.error_class == "too_large"
    cut = set(filter(None, (context.original_truncated or "").split(",")))
    kept_own = any(name == "publisher" for name, _ in letter.headers)
    if not cut:
        assert (letter.key, letter.value, kept_own) == (key, value, bool(headers))
        assert context.original_size is None and context.original_sha256 is None
        return
    assert _size(key, value, headers) > LIMIT - 4096  # only cut when it could not fit
    assert context.original_size == len(value)
    assert context.original_sha256 == hashlib.sha256(value).hexdigest()
    assert ("value" in cut) == (letter.value != value) and value.startswith(letter.value)
    assert ("key" in cut) == (letter.key != key)
    assert ("headers" in cut) == (bool(headers) and not kept_own)
    if "value" in cut:
        assert len(letter.value) >= LIMIT // 4


def test_an_oversized_replay_header_from_the_publisher_still_fits() -> None:
    """Context headers copied from the input (replay.from) are bounded, so even a
    publisher's megabyte-sized one leaves room for the record."""
    huge = [("docstream.replay.from", b"t/0/" + b"9" * (2 * LIMIT))]
    record = _record(b"k", b"v" * 100, huge)
    letter = dead_letter_record(record, FAILURE, group="g", worker_id="w", max_bytes=LIMIT)
    assert _size(letter.key, letter.value, letter.headers) <= LIMIT
    assert letter.value == record.value
