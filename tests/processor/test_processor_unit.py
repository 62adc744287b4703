"""The Processor's own logic on fake ports: no broker, a manual clock, a fake Claude.

Dispatch, backpressure, ordering lanes, drain, commit order and the fatal freeze. The
broker tests (test_worker.py) cover the same paths end to end through aiokafka.
"""

from __future__ import annotations

import asyncio
from typing import Any

from stream.claude.instant import InstantClaudeClient
from stream.concurrency import ManualClock
from stream.errors import Outcome
from stream.processor import EXIT_FATAL, StopPolicy
from tests.processor.fake_ports import (
    DLQ,
    RESULTS,
    FakeSink,
    FakeSource,
    GatedClaude,
    build_processor,
    until,
)


def _offsets(sent: list[Any]) -> list[tuple[int, int]]:
    return sorted((s.json["source"]["partition"], s.json["source"]["offset"]) for s in sent)


async def test_every_record_ends_as_one_result_and_the_final_commit_reaches_each_end() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    for partition in range(3):
        source.add_docs(partition, 5)
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=15)
    )

    assert await processor.run() == 0

    assert _offsets(sink.to(RESULTS)) == [(p, o) for p in range(3) for o in range(5)]
    assert source.committed == {("docs", p): 5 for p in range(3)}
    assert source.stopped


async def test_undecodable_bytes_become_a_dead_letter_carrying_the_original_bytes() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add(0, b"\xff{not json")
    source.add_doc(0, "p0-1")
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=2)
    )

    assert await processor.run() == 0

    assert [s.value for s in sink.to(DLQ)] == [b"\xff{not json"]
    assert len(sink.to(RESULTS)) == 1
    assert source.committed == {("docs", 0): 2}


async def test_commits_never_pass_an_unfinished_record() -> None:
    """The head of the partition hangs while the rest finish: every commit stays at 0."""
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    source.add_docs(0, 5)
    client.hold("p0-0")
    processor = build_processor(
        source, sink, client, clock, StopPolicy(max_documents=5), processing__commit_every=1
    )
    run = asyncio.create_task(processor.run())

    await until(lambda: len(sink.to(RESULTS)) == 4)
    await until(lambda: processor.stats.results == 4)
    assert all(c.get(("docs", 0), 0) == 0 for c in source.commits)
    client.release()
    assert await run == 0
    assert source.committed == {("docs", 0): 5}


async def test_backpressure_pauses_at_the_buffer_size_and_resumes_at_half() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    ids = source.add_docs(0, 12)
    client.hold(*ids)
    processor = build_processor(
        source, sink, client, clock, StopPolicy(max_documents=12), processing__buffer_size=4
    )
    run = asyncio.create_task(processor.run())

    await until(lambda: ("docs", 0) in source.paused)
    await until(lambda: clock.now() > 5.0)  # many poll intervals while paused
    assert processor.stats.dispatched == 4
    assert source.fetched(("docs", 0)) == 4
    client.release("p0-0")
    await until(lambda: processor.stats.results == 1)
    await until(lambda: clock.now() > 10.0)
    assert ("docs", 0) in source.paused  # 3 pending: above half, still paused
    client.release("p0-1")
    await until(lambda: processor.stats.dispatched > 4)  # 2 pending: half, resumed
    client.release()
    assert await run == 0
    assert processor.stats.results == 12


async def test_partition_ordering_runs_one_record_of_a_partition_at_a_time_in_offset_order() -> (
    None
):
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    for partition in range(2):
        source.add_docs(partition, 6)
    processor = build_processor(
        source, sink, client, clock, StopPolicy(max_documents=12), processing__ordering="partition"
    )

    assert await processor.run() == 0

    assert client.max_inflight == {"p0": 1, "p1": 1}
    for partition in range(2):
        mine = [d for d in client.started if d.startswith(f"p{partition}-")]
        assert mine == [f"p{partition}-{i}" for i in range(6)]


async def test_unordered_mode_runs_records_of_one_partition_concurrently() -> None:
    """The counterpart of the ordering test: without lanes, calls overlap."""
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    source.add_docs(0, 6)
    processor = build_processor(source, sink, client, clock, StopPolicy(max_documents=6))

    assert await processor.run() == 0

    assert client.max_inflight["p0"] > 1


async def test_stop_request_drains_in_flight_records_and_commits_them() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    source.add_docs(0, 3)
    client.hold("p0-2")
    processor = build_processor(source, sink, client, clock)
    run = asyncio.create_task(processor.run())

    await until(lambda: processor.stats.results == 2)
    processor.request_stop()
    await until(lambda: ("docs", 0) in source.paused)
    client.release()
    assert await run == 0
    assert processor.stats.results == 3
    assert source.committed == {("docs", 0): 3}


async def test_drain_deadline_abandons_a_hung_record_and_commits_only_below_it() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    source.add_docs(0, 3)
    client.hold("p0-1")
    processor = build_processor(source, sink, client, clock, processing__drain_deadline_s=5.0)
    run = asyncio.create_task(processor.run())

    await until(lambda: processor.stats.results == 2)
    stopped_at = clock.now()
    processor.request_stop()
    await run

    assert clock.now() - stopped_at >= 5.0  # the deadline runs on the injected clock
    assert source.committed == {("docs", 0): 1}
    assert source.stopped


async def test_an_auth_outcome_freezes_commits_and_exits_fatal_after_the_pause() -> None:
    """Records that finish after the 401 are written but never committed."""
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    client = GatedClaude(InstantClaudeClient(script={"p1-0": [Outcome.AUTH]}))
    ids = source.add_docs(0, 3)
    source.add_doc(1, "p1-0")
    client.hold(*ids)
    processor = build_processor(source, sink, client, clock, limits__pause_on_fatal_s=5.0)
    run = asyncio.create_task(processor.run())

    await until(lambda: "fatal" in processor.pause_reasons)
    client.release()
    await until(lambda: processor.stats.results == 3)
    assert await run == EXIT_FATAL

    assert clock.now() >= 5.0
    assert not sink.to(DLQ)  # nothing is dead-lettered for a fault that is not the record's
    assert all(("docs", 0) not in c for c in source.commits)
