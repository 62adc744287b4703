"""A revoked partition is handed over cleanly: while its revoke waits for the calls in
flight, no record of it starts, so nothing is written after the handover's commit (the
next owner starts there and would write it again)."""

from __future__ import annotations

import asyncio

from stream.concurrency import ManualClock
from stream.processor import StopPolicy
from tests.processor.fake_ports import (
    RESULTS,
    FakeSink,
    FakeSource,
    GatedClaude,
    build_processor,
    until,
)

TP0 = ("docs", 0)


def _written(sink: FakeSink) -> list[str]:
    return [str(s.json["document_id"]) for s in sink.to(RESULTS)]


async def test_records_fetched_during_a_revoke_are_left_to_the_next_owner() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    source.add_docs(0, 2)
    client.hold("p0-1")
    processor = build_processor(source, sink, client, clock, StopPolicy(until_idle_s=30))
    run = asyncio.create_task(processor.run())
    await until(lambda: "p0-1" in client.started)

    revoke = asyncio.create_task(source.revoke([TP0]))
    await until(lambda: clock.now() > 1.0)  # the revoke waits for p0-1
    source.add_docs(0, 5)  # ids p0-0..p0-4 again, at offsets 2..6: fetched during the wait
    await until(lambda: source.fetched(TP0) == 7)
    await until(lambda: clock.now() > 2.0)
    client.release()
    await revoke

    assert _written(sink) == ["p0-0", "p0-1"]
    assert client.started == ["p0-0", "p0-1"]
    assert source.committed[TP0] == 2  # the next owner starts at offset 2
    processor.request_stop()
    assert await run == 0
    assert _written(sink) == ["p0-0", "p0-1"]


async def test_a_lane_hands_over_after_its_record_in_flight_not_its_queue() -> None:
    """Ordering by partition: the lane's queued records are not started at the revoke."""
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    source.add_docs(0, 6)
    client.hold("p0-0")
    processor = build_processor(
        source, sink, client, clock, StopPolicy(until_idle_s=30), processing__ordering="partition"
    )
    run = asyncio.create_task(processor.run())
    await until(lambda: source.fetched(TP0) == 6 and "p0-0" in client.started)

    revoke = asyncio.create_task(source.revoke([TP0]))
    await until(lambda: clock.now() > 1.0)
    client.release()
    await revoke

    assert _written(sink) == ["p0-0"]
    assert source.committed[TP0] == 1
    processor.request_stop()
    assert await run == 0
