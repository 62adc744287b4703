"""The part of the group's partitions a worker owns is its first share of the account."""

from __future__ import annotations

from stream.claude.instant import InstantClaudeClient
from stream.concurrency import ManualClock
from stream.processor import StopPolicy
from tests.processor.fake_ports import FakeSink, FakeSource, build_worker


async def test_a_worker_owning_two_of_six_partitions_counts_a_third_of_the_account() -> None:
    """Assigned partitions 1 and 4 of a six-partition topic: the processor tells the
    caller (2, 6), and the caller's pacers count a third of the account as their own
    until the headers show what the other members spend."""
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.partitions = 6
    for partition in (1, 4):
        source.add_doc(partition, f"doc-{partition}")
    processor, caller, settings = build_worker(
        source, sink, InstantClaudeClient(), clock, StopPolicy(max_documents=2)
    )
    told: list[tuple[int, int]] = []
    processor.on_assignment.append(lambda owned, total: told.append((owned, total)))

    assert await processor.run() == 0

    assert told == [(2, 6)]
    assert caller.controls_for(settings.claude.model).pacer.share_hint == 2 / 6
