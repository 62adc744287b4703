"""The crash window: records finished above a stuck one never pile up uncommitted beyond
``processing.buffer_size``, so a kill -9 redoes at most that many per partition."""

from __future__ import annotations

import asyncio

import pytest

from stream.claude.types import CallRequest, CallResult
from stream.concurrency import ManualClock
from stream.processor import Processor, StopPolicy
from stream.simulator import SimulatorProcess
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.processor.fake_ports import FakeSink, FakeSource, GatedClaude, build_processor, until
from tests.processor.helpers import account, committed, doc, publish
from tests.processor.worker_process import WorkerProcess, wait_until

pytestmark = pytest.mark.kafka

WINDOW = 20


class HeadHangs(ScriptedClaude):
    """Never answers the document with id ``stuck``; answers every other one."""

    async def call(self, request: CallRequest) -> CallResult:
        if request.document_id == "stuck":
            await asyncio.Event().wait()
        return await super().call(request)


async def test_a_stuck_head_stalls_only_its_own_partition_and_parked_records_follow_in_order() -> (
    None
):
    """Window 4: partition 0's head hangs, so 3 records after it finish and the rest wait
    (fetched ones parked); partition 1 runs to its end and commits. Released, partition
    0 finishes in offset order and commits to its end."""
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    for i in range(12):
        source.add_doc(0, f"p0-{i}")
        source.add_doc(1, f"p1-{i}")
    client.hold("p0-0")
    processor = build_processor(
        source, sink, client, clock, StopPolicy(max_documents=24), processing__buffer_size=4
    )
    run = asyncio.create_task(processor.run())

    await until(lambda: source.committed.get(("docs", 1)) == 12)
    window_of_p0 = ["p0-0", "p0-1", "p0-2", "p0-3"]
    assert sorted(client.started) == sorted(window_of_p0 + [f"p1-{i}" for i in range(12)])
    await until(lambda: clock.now() > 5.0)  # many polls and commits later: still so
    assert ("docs", 0) in source.paused
    assert [s for s in client.started if s.startswith("p0")] == window_of_p0
    assert source.committed.get(("docs", 0), 0) == 0
    client.release()
    assert await run == 0
    assert [s for s in client.started if s.startswith("p0")] == [f"p0-{i}" for i in range(12)]
    assert source.committed == {("docs", 0): 12, ("docs", 1): 12}


async def test_stuck_head_pauses_its_partition_when_the_span_reaches_the_window(
    settings_factory: SettingsFactory,
) -> None:
    """One record hangs at the head: exactly window - 1 records after it are processed,
    then the partition waits; nothing is committed past the stuck record."""
    settings = settings_factory(
        {
            "kafka.topics.partitions": 1,
            "processing.buffer_size": WINDOW,
            "processing.commit_interval_s": 0.1,
            "processing.drain_deadline_s": 0.2,
        }
    )
    await publish(settings, [doc("stuck"), *(doc(f"d{i}") for i in range(150))])
    started: list[Processor] = []
    worker = asyncio.create_task(run_worker(settings, client=HeadHangs(), on_start=started.append))

    async def waiting_on_the_head() -> bool:
        if not started:
            return False
        processor = started[0]
        return processor.stats.results >= WINDOW - 1 and processor.tracker.pending() == 1

    await wait_until(waiting_on_the_head)
    await asyncio.sleep(0.5)  # a few more polls and commits: nothing may move
    processor = started[0]
    assert processor.stats.results == WINDOW - 1
    processor.request_stop()
    await worker

    assert sum((await account(settings)).results.values()) == WINDOW - 1
    assert (await committed(settings)).get(0, 0) == 0


async def test_kill_9_with_a_stuck_head_redoes_at_most_the_window(
    settings_factory: SettingsFactory, simulator_process: SimulatorProcess
) -> None:
    """A worker killed while its partition's head hangs in the simulator: a restart
    produces every output, and duplicates stay within the window."""
    settings = settings_factory({"kafka.topics.partitions": 1, "processing.buffer_size": WINDOW})
    coords = await publish(
        settings, [doc("stuck", "[[sim:hang]]"), *(doc(f"d{i}") for i in range(150))]
    )
    worker = WorkerProcess(settings, simulator_process.base_url)

    async def results_written() -> bool:
        assert worker.alive(), worker.log_text
        return sum((await account(settings)).results.values()) >= WINDOW - 1

    await wait_until(results_written, attempts=600)
    await asyncio.sleep(1.0)  # time enough to run the whole backlog were it not bounded
    worker.kill()
    before = sum((await account(settings)).results.values())

    await run_worker(settings, stop=StopPolicy(until_idle_s=1.5), client=ScriptedClaude())

    final = (await account(settings)).outcomes()
    assert set(final) == set(coords)
    duplicates = sum(final.values()) - len(coords)
    assert duplicates == before  # nothing above the stuck head was committed...
    assert duplicates <= WINDOW  # ...and the window kept it small


async def test_kill_9_with_skip_finished_redoes_nothing_that_had_finished(
    settings_factory: SettingsFactory, simulator_process: SimulatorProcess
) -> None:
    """processing.skip_finished: the records finished above the stuck head were saved to
    the compacted topic, so the restart skips them: no duplicate at all."""
    overrides = {
        "kafka.topics.partitions": 1,
        "processing.buffer_size": WINDOW,
        "processing.skip_finished": True,
    }
    settings = settings_factory(overrides)
    coords = await publish(
        settings, [doc("stuck", "[[sim:hang]]"), *(doc(f"d{i}") for i in range(150))]
    )
    worker = WorkerProcess(
        settings,
        simulator_process.base_url,
        extra_env={"DOCSTREAM_PROCESSING__SKIP_FINISHED": "true"},
    )

    async def results_written() -> bool:
        assert worker.alive(), worker.log_text
        return sum((await account(settings)).results.values()) >= WINDOW - 1

    await wait_until(results_written, attempts=600)
    await asyncio.sleep(1.0)  # the last completion's save is a commit-loop turn away
    worker.kill()
    before = sum((await account(settings)).results.values())

    report = await run_worker(settings, stop=StopPolicy(until_idle_s=1.5), client=ScriptedClaude())

    assert report.stats.skipped == before == WINDOW - 1
    assert (await account(settings)).outcomes() == {c: 1 for c in coords}
