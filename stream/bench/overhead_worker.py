"""``python -m stream.bench.overhead_worker``: the one worker ``docstream bench overhead`` measures.

It runs in its own process so that the publisher's memory and CPU, and the parent's
verification, never show up in the figures. It reads the complete Settings as JSON on
stdin (secrets included, which is why they never go on the command line), runs
``run_worker`` with ``InstantClaudeClient`` at the Claude seam and the same telemetry
setup as ``docstream run``, and prints one JSON object (``WorkerMeasurement``) as the last
line on stdout.

What is measured, inside this process:

- the window: from the first record dispatched to the moment the last expected record
  completed (result or dead letter acknowledged by the broker), taken exactly from the
  processor's observer events (see ``WindowSampler``); the group join before and the
  shutdown commit after are outside the window and reported separately;
- CPU: ``getrusage(RUSAGE_SELF)`` user + system seconds at both window edges (the 5 ms
  sampling task included: about 200 cheap wake-ups per second), and the time the
  thread was runnable but waiting for a CPU (``/proc/thread-self/schedstat``), which
  tells a slow worker from a worker starved by other processes;
- memory: ``ru_maxrss`` (the kernel's peak for the whole process life, the honest
  figure) and ``VmRSS`` sampled every 50 ms during the run, with its value at every
  tenth of the documents, which shows whether memory grows with the backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import os
import resource
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream.claude.instant import InstantClaudeClient
from stream.claude.types import CallRequest
from stream.config import Settings, load_settings
from stream.observers import NullProcessorObserver
from stream.ports import Output, RawRecord
from stream.processor import Processor, StopPolicy
from stream.telemetry.setup import configure_telemetry
from stream.worker import WorkerReport, run_worker

__all__ = [
    "WindowSampler",
    "WorkerMeasurement",
    "main",
    "measure",
    "run_queue_s",
    "vm_rss_mb",
]

_TICK_S = 0.005
_RSS_EVERY = 10  # ticks between VmRSS samples (50 ms)
_STATUS = Path("/proc/self/status")
_SCHEDSTAT = Path("/proc/thread-self/schedstat")


@dataclass(slots=True)
class WorkerMeasurement:
    """What the worker process reports back; every time in seconds, memory in MB."""

    expected: int
    dispatched: int = 0
    processed: int = 0
    results: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    claude_calls: int = 0
    exit_code: int = 0  # -1: cancelled after a stall
    stalled: bool = False  # dispatched records stopped completing
    stalled_at_shutdown: bool = False  # all done, but the worker did not exit
    join_s: float = 0.0  # worker start -> first record dispatched
    window_s: float = 0.0  # first dispatched -> last expected record completed
    total_s: float = 0.0  # worker start -> run_worker returned
    cpu_s: float = 0.0  # user + system inside the window
    cpu_user_s: float = 0.0
    cpu_sys_s: float = 0.0
    run_queue_s: float = 0.0  # runnable but not running inside the window (CPU contention)
    inflight_mean: float = 0.0  # records fetched and not yet done, averaged over the window
    starved_fraction: float = 0.0  # share of the window with nothing in flight
    peak_rss_mb: float = 0.0  # ru_maxrss: whole process life
    sampled_rss_max_mb: float | None = None  # VmRSS, sampled during the run
    rss_by_progress: list[tuple[int, float]] = field(default_factory=list)  # (processed, MB)


def vm_rss_mb() -> float | None:
    """Current resident set size from /proc (None where there is no procfs)."""
    try:
        text = _STATUS.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def run_queue_s() -> float:
    """Seconds this thread was runnable but waiting for a CPU (/proc schedstat; 0 if absent).

    On a shared machine this separates "the worker was slow" from "the worker was
    starved by other processes".
    """
    try:
        fields = _SCHEDSTAT.read_text(encoding="ascii").split()
    except OSError:
        return 0.0
    return int(fields[1]) / 1e9


class WindowSampler(NullProcessorObserver):
    """Finds the measurement window's edges and samples the worker while it runs.

    The edges come from the processor, whose observer this is: it is told as each record
    is dispatched and as each record's output is acknowledged, which gives the exact
    first dispatch and last completion. (A sampling task alone would see them late: it only
    runs when the loop is free, so a short run would be mostly over before its first
    sample.) A 5 ms sampling task adds RSS, records in flight and stall detection.
    """

    def __init__(self, measurement: WorkerMeasurement) -> None:
        self._m = measurement
        self._processor: Processor | None = None
        self._started = time.perf_counter()
        self._t0: float | None = None
        self._cpu0 = (0.0, 0.0)
        self._queue0 = 0.0
        self._completed = 0
        self._last_change = 0.0
        self._next_mark = 1
        self._prev = (0.0, 0)  # (time, records in flight) at the previous sample
        self._covered_s = self._inflight_s = self._starved_s = 0.0

    def attach(self, processor: Processor) -> None:
        """The processor to sample (run_worker's ``on_start``, before any record)."""
        self._processor = processor

    # -- ProcessorObserver: the window's edges ------------------------------------------

    def dispatched(self, record: RawRecord) -> None:
        del record
        if self._t0 is None:
            self._open_window()

    def completed(self, output: Output) -> None:
        del output
        self._on_completed()

    @property
    def processor(self) -> Processor | None:
        return self._processor

    async def run(self, stall_s: float) -> None:
        """Sample until cancelled; return only if the worker is stuck for ``stall_s``.

        Stuck means dispatched records stopped completing (the worker's drain would wait
        for them forever), or every expected record completed and the worker still did
        not shut down (its final commit and group leave hang). Either would otherwise
        hang the benchmark silently.
        """
        ticks = 0
        while True:
            await asyncio.sleep(_TICK_S)
            ticks += 1
            self.sample(rss=ticks % _RSS_EVERY == 0)
            if self._t0 is not None and time.perf_counter() - self._last_change > stall_s:
                return

    def sample(self, *, rss: bool = True) -> None:
        """RSS and records in flight, now."""
        if rss:
            current = vm_rss_mb()
            if current is not None:
                peak = self._m.sampled_rss_max_mb or 0.0
                self._m.sampled_rss_max_mb = max(peak, current)
        processor = self._processor
        if processor is not None and self._t0 is not None and not self.window_closed:
            self._count_inflight(time.perf_counter(), processor.tracker.pending())

    @property
    def window_closed(self) -> bool:
        return self._completed >= self._m.expected

    def close(self) -> None:
        """End of run: a window the last expected record never closed ends now."""
        if self._t0 is not None and not self.window_closed:
            self._close_window(self._last_change)

    def _open_window(self) -> None:
        now = time.perf_counter()
        self._t0, self._cpu0, self._queue0 = now, _cpu(), run_queue_s()
        self._last_change = now
        self._m.join_s = now - self._started

    def _on_completed(self) -> None:
        self._completed += 1
        if self._completed > self._m.expected:
            return
        self._last_change = time.perf_counter()
        if self._completed * 10 >= self._next_mark * self._m.expected:
            current = vm_rss_mb()
            if current is not None:
                self._m.rss_by_progress.append((self._completed, round(current, 1)))
            self._next_mark = self._completed * 10 // self._m.expected + 1
        if self._completed == self._m.expected:
            self._close_window(self._last_change)

    def _close_window(self, end: float) -> None:
        assert self._t0 is not None
        user, system = _cpu()
        self._m.window_s = end - self._t0
        self._m.cpu_user_s = user - self._cpu0[0]
        self._m.cpu_sys_s = system - self._cpu0[1]
        self._m.cpu_s = self._m.cpu_user_s + self._m.cpu_sys_s
        self._m.run_queue_s = run_queue_s() - self._queue0

    def _count_inflight(self, now: float, pending: int) -> None:
        """Time-weighted: samples only land when the loop is free, so counting samples
        would over-weight idle moments. An interval counts as starved only when the
        samples at both of its ends saw nothing in flight."""
        then, before = self._prev
        self._prev = (now, pending)
        if then == 0.0:
            return
        span = now - then
        self._covered_s += span
        self._inflight_s += span * (before + pending) / 2
        if before == 0 and pending == 0:
            self._starved_s += span
        self._m.inflight_mean = self._inflight_s / self._covered_s
        self._m.starved_fraction = self._starved_s / self._covered_s


async def measure(
    settings: Settings, *, expected: int, pipeline: str | None, idle_timeout_s: float
) -> WorkerMeasurement:
    """Run one worker over ``expected`` documents and measure it (see the module docstring).

    The worker stops by itself once it dispatched ``expected`` records and finished them,
    or after ``idle_timeout_s`` with nothing to consume (documents that never arrived).
    If dispatched records stop completing for ``idle_timeout_s``, or the worker has not
    shut down ``idle_timeout_s`` after the last one, it is cancelled and the measurement
    says ``stalled`` or ``stalled_at_shutdown`` (the stuck tasks' await chains go to
    stderr).
    """
    measurement = WorkerMeasurement(expected=expected)
    sampler = WindowSampler(measurement)
    client = InstantClaudeClient(text_for=_answer)
    started = time.perf_counter()
    worker = asyncio.create_task(
        run_worker(
            settings,
            stop=StopPolicy(max_documents=expected, until_idle_s=idle_timeout_s),
            pipeline=pipeline,
            client=client,
            on_start=sampler.attach,
            observer=sampler,
        )
    )
    watch = asyncio.create_task(sampler.run(stall_s=idle_timeout_s))
    with contextlib.suppress(NotImplementedError, RuntimeError):  # `kill -USR1 <pid>`
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks, sampler)
    await asyncio.wait({worker, watch}, return_when=asyncio.FIRST_COMPLETED)
    watch.cancel()
    if not worker.done():
        if sampler.processor is not None and sampler.processor.stats.processed >= expected:
            measurement.stalled_at_shutdown = True
        else:
            measurement.stalled = True
        _dump_tasks(sampler)
        worker.cancel()
        await asyncio.wait({worker}, timeout=idle_timeout_s)
    sampler.sample()
    sampler.close()
    measurement.total_s = time.perf_counter() - started
    measurement.claude_calls = client.call_count
    measurement.exit_code = _exit_code(worker)
    _copy_stats(measurement, sampler.processor)
    measurement.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return measurement


def _exit_code(worker: asyncio.Task[WorkerReport]) -> int:
    """The worker's exit code; -1 when it had to be cancelled; a crash re-raises."""
    if not worker.done() or worker.cancelled():
        return -1
    error = worker.exception()
    if error is not None:
        raise error  # a crash, not a measurement
    return worker.result().exit_code


def _answer(request: CallRequest) -> str:
    """A stand-in answer that is valid text and valid JSON for the built-in schemas.

    The default instant answer fails the triage pipeline's anomalies schema, which would
    send every document to the DLQ after a repair attempt and measure the wrong path.
    """
    return json.dumps(
        {
            "summary": f"Stand-in answer for {request.document_id}, stage {request.stage}.",
            "labels": ["benchmark"],
            "score": 0.0,
            "chars": len(request.user),
        },
        separators=(",", ":"),
    )


def _copy_stats(measurement: WorkerMeasurement, processor: Processor | None) -> None:
    if processor is None:
        return
    stats = processor.stats
    measurement.dispatched = stats.dispatched
    measurement.processed = stats.processed
    measurement.results = stats.results
    measurement.dead_lettered = dict(stats.dead_lettered)


def _dump_tasks(sampler: WindowSampler) -> None:
    """Where a stalled worker's tasks are waiting (the whole await chain of each)."""
    processor = sampler.processor
    done = processor.stats.processed if processor is not None else 0
    pending = processor.tracker.pending() if processor is not None else 0
    paused = sorted(processor.pause_reasons) if processor is not None else []
    sys.stderr.write(
        f"overhead_worker: {done} processed, {pending} in flight, paused for {paused}; "
        "waiting tasks:\n"
    )
    for task in list(asyncio.all_tasks())[:40]:
        sys.stderr.write(f"  {task.get_name()}: {' <- '.join(_await_chain(task))}\n")


def _await_chain(task: asyncio.Task[Any]) -> list[str]:
    """``function:line`` of every coroutine a task is suspended in, outermost first."""
    chain: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(chain) < 30:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return chain


def _settings_from_stdin() -> Settings:
    data: dict[str, Any] = json.loads(sys.stdin.read())
    return load_settings(None, data)


def main(argv: list[str] | None = None) -> int:
    """Entry point: settings JSON on stdin, one measurement JSON line on stdout."""
    parser = argparse.ArgumentParser(prog="python -m stream.bench.overhead_worker")
    parser.add_argument("--expect", type=int, required=True, help="documents to process")
    parser.add_argument("--pipeline", default=None, help="built-in pipeline or YAML file")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="give up after idle s")
    parser.add_argument("--cprofile", type=Path, default=None, help="write pstats here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = _settings_from_stdin()
    handle = configure_telemetry(settings.telemetry)
    profiler = cProfile.Profile() if args.cprofile is not None else None
    try:
        if profiler is not None:
            profiler.enable()
        # Not asyncio.run: after a stall the cancelled worker may never finish, and
        # asyncio.run would wait for it forever while cancelling the remaining tasks.
        loop = asyncio.new_event_loop()
        result = loop.run_until_complete(
            measure(
                settings,
                expected=args.expect,
                pipeline=args.pipeline,
                idle_timeout_s=args.idle_timeout,
            )
        )
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.cprofile))
        handle.shutdown()
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    sys.stdout.flush()
    if result.stalled or result.stalled_at_shutdown:
        os._exit(0)  # the measurement is out; leave the stuck tasks behind
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
