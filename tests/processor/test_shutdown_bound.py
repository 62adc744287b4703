"""The outer bound on shutdown: a broker step that ignores its own deadline (aiokafka's
consumer stop while the coordinator rejoins, a poll held by a rejoin) cannot hold the
end of ``run``. Fake ports, manual clock; the bound is read on that clock."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections.abc import Sequence

import pytest

from stream.claude.instant import InstantClaudeClient
from stream.concurrency import ManualClock
from stream.ports import RawRecord
from stream.processor import EXIT_SHUTDOWN_STUCK, SHUTDOWN_GRACE_S, StopPolicy
from tests.processor.fake_ports import FakeSink, FakeSource, build_processor, until


async def _ignore_cancels_until(released: asyncio.Event) -> None:
    """Like a wait on a rejoining coordinator: a cancel does not end it."""
    while not released.is_set():
        try:
            await released.wait()
        except asyncio.CancelledError:
            continue


class _StuckLeave(FakeSource):
    """Leaving the group never ends and ignores every cancel (until the test is over)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.release = asyncio.Event()
        self.stop_called = False

    async def stop(self) -> None:
        self.stop_called = True
        await _ignore_cancels_until(self.release)


class _StuckPoll(FakeSource):
    """After the first records, a poll never returns; with ``ignore_cancel`` it also
    ignores the cancel (a getmany held by a group that keeps rejoining)."""

    def __init__(self, clock: ManualClock, *, ignore_cancel: bool) -> None:
        super().__init__(clock)
        self.release = asyncio.Event()
        self.ignore_cancel = ignore_cancel
        self.polls = 0

    async def poll(self, *, max_records: int, timeout_s: float) -> Sequence[RawRecord]:
        self.polls += 1
        if self.polls == 1:
            return await super().poll(max_records=max_records, timeout_s=timeout_s)
        if self.ignore_cancel:
            await _ignore_cancels_until(self.release)
        else:
            await self.release.wait()
        return ()


async def test_a_group_leave_that_ignores_its_deadline_is_abandoned_at_the_bound_with_exit_4(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = _StuckLeave(clock), FakeSink()
    source.add_docs(0, 3)
    processor = build_processor(source, sink, InstantClaudeClient(), clock)
    run = asyncio.create_task(processor.run())
    try:
        await until(lambda: processor.stats.results == 3)
        stopped_at = clock.now()
        with caplog.at_level(logging.ERROR, logger="stream.processor"):
            processor.request_stop()
            await until(run.done)
        assert run.result() == EXIT_SHUTDOWN_STUCK
    finally:
        source.release.set()
        run.cancel()
    assert source.stop_called
    assert source.committed == {("docs", 0): 3}  # the ordered steps before it still ran
    bound = processor.shutdown_bound_s
    assert bound == processor._settings.processing.drain_deadline_s + SHUTDOWN_GRACE_S
    assert clock.now() - stopped_at == pytest.approx(bound)  # the worker's clock, not time
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "shutdown did not end" in line


async def test_a_stop_during_a_poll_that_never_returns_ends_the_run_cleanly() -> None:
    """The poll is given up at the stop: the drain, final commit and leave still run."""
    clock = ManualClock(auto_advance=True)
    source, sink = _StuckPoll(clock, ignore_cancel=False), FakeSink()
    source.add_docs(0, 3)
    processor = build_processor(source, sink, InstantClaudeClient(), clock)
    run = asyncio.create_task(processor.run())
    try:
        await until(lambda: processor.stats.results == 3 and source.polls >= 2)
        processor.request_stop()
        await until(run.done)
        assert run.result() == 0
    finally:
        source.release.set()
        run.cancel()
    assert source.committed == {("docs", 0): 3}
    assert source.stopped


async def test_a_poll_that_ignores_the_cancel_is_abandoned_at_the_bound_with_exit_4() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = _StuckPoll(clock, ignore_cancel=True), FakeSink()
    source.add_docs(0, 3)
    processor = build_processor(source, sink, InstantClaudeClient(), clock)
    run = asyncio.create_task(processor.run())
    try:
        await until(lambda: processor.stats.results == 3 and source.polls >= 2)
        processor.request_stop()
        await until(run.done)
        assert run.result() == EXIT_SHUTDOWN_STUCK
    finally:
        source.release.set()
        run.cancel()


async def test_a_long_poll_is_never_cancelled_without_a_stop() -> None:
    """A poll held by a group that is joining is waited for, however long: cancelling
    aiokafka's getmany mid-join left the consumer stuck for good (chaos rebalance storm).
    Once it returns, the worker goes on (here: until its stop)."""
    clock = ManualClock(auto_advance=True)
    source, sink = _StuckPoll(clock, ignore_cancel=True), FakeSink()
    source.add_docs(0, 3)
    processor = build_processor(source, sink, InstantClaudeClient(), clock)
    run = asyncio.create_task(processor.run())
    try:
        await until(lambda: source.polls >= 2)
        await clock.sleep(600.0)  # far past any poll timeout
        assert source.polls == 2 and not run.done()  # not given up, not doubled
        source.release.set()
        await until(lambda: source.polls >= 3)
        processor.request_stop()
        await until(run.done)
        assert run.result() == 0
    finally:
        source.release.set()
        run.cancel()
    assert source.committed == {("docs", 0): 3}


async def test_an_idle_worker_ends_even_while_a_join_holds_its_poll() -> None:
    """``--until-idle`` fires during a held poll (the embedded broker's group can loop
    at one generation for minutes): the poll is given up as at a stop, everything
    finished is committed, exit 0."""
    clock = ManualClock(auto_advance=True)
    source, sink = _StuckPoll(clock, ignore_cancel=False), FakeSink()
    source.add_docs(0, 3)
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, StopPolicy(until_idle_s=60.0)
    )
    run = asyncio.create_task(processor.run())
    try:
        await until(run.done)
        assert run.result() == 0
        assert source.polls == 2 and not source.release.is_set()  # ended while held
    finally:
        source.release.set()
        run.cancel()
    assert source.committed == {("docs", 0): 3}
    assert clock.now() < 120.0  # within an idle period and a check of the held poll


def test_the_watchdog_ends_a_process_whose_event_loop_is_held_by_a_task_with_its_code() -> None:
    """What asyncio.run cannot end (a task that ignores the cancel holds its cleanup),
    the watchdog thread does: one log line and the exit code, no traceback."""
    script = textwrap.dedent(
        """
        import asyncio, logging
        from stream.watchdog import ShutdownWatchdog

        async def held():
            while True:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    continue

        async def main():
            asyncio.get_running_loop().create_task(held())
            ShutdownWatchdog(0.05, 4).arm()

        logging.basicConfig(level=logging.INFO)
        asyncio.run(main())  # its cleanup waits for held() forever
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == EXIT_SHUTDOWN_STUCK, done.stderr
    assert "did not end within" in done.stderr
    assert "Traceback" not in done.stderr
