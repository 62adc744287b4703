"""Choosing a fault: markers, ``*K`` counting, global modes with a seeded rate."""

from __future__ import annotations

import json
import random

import pytest

from stream.simulator.faults import FAULT_MODES, FaultBook, UnknownFault, error_for
from stream.simulator.text import read_prompt


def _pick(book: FaultBook, text: str, system: str | None = None) -> str | None:
    body: dict[str, object] = {"messages": [{"role": "user", "content": text}]}
    if system is not None:
        body["system"] = system
    return book.pick(json.dumps(body).encode(), read_prompt(body))


def test_marker_in_message_or_system_selects_the_fault() -> None:
    """[[sim:NAME]] anywhere in a message or the system prompt picks NAME, every time."""
    book = FaultBook(random.Random(0))
    assert _pick(book, "doc [[sim:overloaded]] text") == "overloaded"
    assert _pick(book, "doc [[sim:overloaded]] text") == "overloaded"
    assert _pick(book, "plain", system="sys [[sim:auth]]") == "auth"
    assert _pick(book, "no marker here") is None


def test_counted_marker_fails_k_times_per_prompt_then_passes() -> None:
    """[[sim:NAME*2]] fires for the first two requests with that exact prompt only."""
    book = FaultBook(random.Random(0))
    prompt = "document one [[sim:error500*2]]"
    assert [_pick(book, prompt) for _ in range(4)] == ["error500", "error500", None, None]
    assert _pick(book, "document two [[sim:error500*2]]") == "error500"
    book.reset_counts()
    assert _pick(book, prompt) == "error500"


def test_counted_marker_ignores_text_appended_after_it() -> None:
    """A retry that appends to the turn (a JSON repair) counts against the same marker."""
    book = FaultBook(random.Random(0))
    first = "doc [[sim:badjson*1]]"
    assert _pick(book, first) == "badjson"
    assert _pick(book, first + "\n\nYour previous answer was not valid: ...") is None


def test_unknown_marker_name_raises_instead_of_passing_silently() -> None:
    """A typo in a marker is an error (a test that meant to fail would otherwise pass)."""
    with pytest.raises(UnknownFault):
        _pick(FaultBook(random.Random(0)), "[[sim:overload]]")


def test_marker_wins_over_the_global_mode() -> None:
    """With a global mode set, a marked request still gets its marker's fault."""
    book = FaultBook(random.Random(0))
    book.set_global("overloaded")
    assert _pick(book, "[[sim:auth]]") == "auth"
    assert _pick(book, "unmarked") == "overloaded"


def test_global_rate_hits_a_seeded_share_of_requests() -> None:
    """rate 0 never fires, 1 always; 0.3 fires on a reproducible subset for a given seed."""
    book = FaultBook(random.Random(7))
    book.set_global("error500", rate=0.0)
    assert all(_pick(book, f"d{i}") is None for i in range(50))
    book.set_global("error500", rate=0.3)
    first = [_pick(book, f"d{i}") for i in range(400)]
    again_book = FaultBook(random.Random(7))
    again_book.set_global("error500", rate=0.0)
    for i in range(50):
        _pick(again_book, f"d{i}")
    again_book.set_global("error500", rate=0.3)
    assert [_pick(again_book, f"d{i}") for i in range(400)] == first
    assert 60 <= first.count("error500") <= 180


@pytest.mark.parametrize(
    ("bad", "error"),
    [({"mode": "nope"}, UnknownFault), ({"mode": "auth", "rate": 1.5}, ValueError)],
)
def test_set_global_rejects_unknown_modes_and_rates(
    bad: dict[str, object], error: type[Exception]
) -> None:
    """The admin endpoint's validation: unknown names and rates outside 0..1 fail."""
    with pytest.raises(error):
        FaultBook(random.Random(0)).set_global(**bad)  # type: ignore[arg-type]


def test_error_texts_match_the_api() -> None:
    """prompt_too_long states N > 200000; unknown_model names the model; spend_cap has details."""
    assert error_for("prompt_too_long", "claude-x", 10).message == (
        "prompt is too long: 200010 tokens > 200000 maximum"
    )
    assert error_for("unknown_model", "claude-x", 1).message == "model: claude-x"
    spend = error_for("spend_cap", "claude-x", 1)
    assert (spend.status, spend.details) == (429, {"error_code": "enforced_spend_limit_reached"})
    assert len(FAULT_MODES) == 16
