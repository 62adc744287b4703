"""A result the broker failed to take: retried when the failure is the broker's, a dead
letter only when the broker refused that one record, never committed while unsent."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stream.claude.instant import InstantClaudeClient
from stream.concurrency import ManualClock
from stream.ports import SendFailed
from stream.processor import StopPolicy
from tests.processor.fake_ports import DLQ, RESULTS, FakeSink, FakeSource, build_processor, until


class NotLeaderForPartitionError(Exception):
    """The broker's own error, as the kafka sink chains it under SendFailed."""


def _leader_moved() -> SendFailed:
    error = SendFailed("NotLeaderForPartitionError: [Error 6]", retriable=True)
    error.__cause__ = NotLeaderForPartitionError()
    return error


async def test_a_result_failed_retriably_is_sent_again_and_never_dead_lettered() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_docs(0, 2)
    sink.fail(RESULTS, _leader_moved(), _leader_moved(), _leader_moved())
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=2)
    )

    assert await processor.run() == 0

    assert sink.failed == 3
    assert sorted(s.json["source"]["offset"] for s in sink.to(RESULTS)) == [0, 1]
    assert sink.to(DLQ) == []
    assert processor.stats.results == 2 and not processor.stats.dead_lettered
    assert source.committed == {("docs", 0): 2}


async def test_retries_wait_a_growing_backoff_on_the_injected_clock() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_docs(0, 1)
    sink.fail(RESULTS, *[_leader_moved() for _ in range(4)])
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=1)
    )

    assert await processor.run() == 0

    assert len(sink.to(RESULTS)) == 1
    assert clock.now() >= 0.1 + 0.2 + 0.4 + 0.8  # four backoffs, each twice the last


async def test_a_record_the_broker_refuses_becomes_an_output_rejected_dead_letter() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_docs(0, 2)
    sink.fail(RESULTS, SendFailed("MessageSizeTooLargeError", retriable=False))
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=2)
    )

    assert await processor.run() == 0

    assert sink.failed == 1
    assert len(sink.to(RESULTS)) == 1
    assert len(sink.to(DLQ)) == 1
    assert [k.split("/")[1] for k in processor.stats.dead_lettered] == ["output_rejected"]
    assert source.committed == {("docs", 0): 2}


async def test_a_dead_letter_failed_retriably_is_sent_again() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add(0, b"\xff{not json")
    sink.fail(DLQ, _leader_moved(), _leader_moved())
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=1)
    )

    assert await processor.run() == 0

    assert [s.value for s in sink.to(DLQ)] == [b"\xff{not json"]
    assert source.committed == {("docs", 0): 1}


async def test_a_stop_while_a_send_keeps_failing_commits_nothing_past_it() -> None:
    """Nothing dead-lettered, nothing committed: the records come back after a restart."""
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_docs(0, 3)
    sink.fail_always(RESULTS, _leader_moved())
    processor = build_processor(source, sink, InstantClaudeClient(), clock)
    run = asyncio.create_task(processor.run())
    await until(lambda: sink.failed >= 3 * 4)  # every record tried several times

    processor.request_stop()
    assert await run == 0

    assert sink.sent == []
    assert source.committed.get(("docs", 0), 0) == 0
    assert processor.stats.processed == 0
    sink.failing.clear()
    source.restart()
    again = build_processor(source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=3))
    assert await again.run() == 0
    assert sorted(s.json["source"]["offset"] for s in sink.to(RESULTS)) == [0, 1, 2]
    assert source.committed == {("docs", 0): 3}


async def test_repeated_retriable_failures_log_one_line_when_they_start_and_one_when_they_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_docs(0, 1)
    sink.fail(RESULTS, *[_leader_moved() for _ in range(6)])
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=1)
    )

    with caplog.at_level(logging.INFO, logger="stream.delivery"):
        assert await processor.run() == 0

    lines = [r.getMessage() for r in caplog.records if r.name == "stream.delivery"]
    assert len(lines) == 2
    assert "NotLeaderForPartitionError" in lines[0] and "ok again" in lines[1]
