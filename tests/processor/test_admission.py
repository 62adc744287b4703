"""A poll of a job's burst is admitted a slice at a time: the first call goes out before
the whole poll has been prepared, and a stop or a revocation between slices starts none
of the records it no longer may."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stream.claude.types import CallRequest, CallResult
from stream.concurrency import ManualClock
from stream.processor import Processor, StopPolicy
from tests.fakes import ScriptedClaude
from tests.processor.fake_ports import FakeSink, FakeSource, build_processor, until


class OnFirstCall(ScriptedClaude):
    """Runs ``then`` when the first call arrives and notes the records dispatched by then."""

    def __init__(self) -> None:
        super().__init__()
        self.then: Callable[[], None] = lambda: None
        self.dispatched_at_first: int | None = None
        self.processor: Processor | None = None
        self.ids: list[str] = []

    async def call(self, request: CallRequest) -> CallResult:
        if self.dispatched_at_first is None:
            assert self.processor is not None
            self.dispatched_at_first = self.processor.stats.dispatched
            self.then()
        self.ids.append(request.document_id)
        return await super().call(request)


def _worker(docs: dict[int, int], **values: object) -> tuple[FakeSource, OnFirstCall, Processor]:
    clock = ManualClock(auto_advance=True)
    source, client = FakeSource(clock), OnFirstCall()
    for partition, count in docs.items():
        source.add_docs(partition, count)
    stop = StopPolicy(max_documents=sum(docs.values()))
    processor = build_processor(source, FakeSink(), client, clock, stop, **values)
    client.processor = processor
    return source, client, processor


async def test_the_first_call_of_a_big_poll_goes_out_before_the_rest_is_prepared() -> None:
    """300 records in one poll: the first call comes when one slice of them has been
    dispatched, not all 300 (each record's task ran its first steps before any request
    could be written: a warm worker's first call came 0.23-0.41 s after the publish)."""
    source, client, processor = _worker({0: 300})
    assert await processor.run() == 0
    assert client.dispatched_at_first is not None
    assert client.dispatched_at_first <= 16
    assert source.committed[("docs", 0)] == 300


async def test_a_stop_between_slices_starts_none_of_the_poll_s_remaining_records() -> None:
    source, client, processor = _worker({0: 300})
    client.then = processor.request_stop
    assert await processor.run() == 0
    assert 1 <= len(client.ids) <= 16
    assert source.committed[("docs", 0)] == len(client.ids)  # the rest are fetched again


async def test_a_partition_revoked_between_slices_has_none_of_its_records_started() -> None:
    """Partition 0's 64 records come first in the poll; partition 1 is revoked when the
    first call arrives, before the loop reaches its records: none of them is started."""
    source, client, processor = _worker({0: 64, 1: 64}, processing__buffer_size=1000)
    revoked: list[asyncio.Task[None]] = []
    client.then = lambda: revoked.append(asyncio.create_task(source.revoke([("docs", 1)])))
    run = asyncio.create_task(processor.run())
    await until(lambda: len(client.ids) == 64 and all(t.done() for t in revoked))
    processor.request_stop()
    assert await run == 0
    assert not [i for i in client.ids if i.startswith("p1-")]
    assert source.committed == {("docs", 0): 64}
