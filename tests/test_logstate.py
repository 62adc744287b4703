"""Repeated identical troubles are counted, not logged line after line."""

from __future__ import annotations

import logging

import pytest

from stream.logstate import RepeatFilter, StateLog


def test_state_log_writes_one_line_per_change_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    states = StateLog(logging.getLogger("t.state"), "commits")
    with caplog.at_level(logging.WARNING, logger="t.state"):
        for trouble in [None, "down", "down", "down", "refused", None, None]:
            states.note(trouble)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "commits: down (repeats are counted, not logged)",
        "commits: refused (before: down, 3 times)",
        "commits: ok again (refused, 1 times)",
    ]


def test_repeat_filter_counts_repeated_lines_even_when_they_alternate() -> None:
    now = [0.0]
    repeat = RepeatFilter(every_s=30.0, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.x", logging.ERROR, "f", 1, msg, None, None)

    passed = [r.getMessage() for r in map(record, ["a", "b"] * 50) if repeat.filter(r)]
    assert passed == ["a", "b"]
    now[0] = 31.0
    late = [r.getMessage() for r in map(record, ["a", "b", "a"]) if repeat.filter(r)]
    assert late == ["a [49 repeated lines dropped]", "b [49 repeated lines dropped]"]
