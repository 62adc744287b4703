"""``python -m stream.bench.scenario_worker``: one worker of an adaptive-concurrency scenario.

Each worker of ``docstream bench steady|tight|shift|overload|flaky|multi-worker`` runs in
its own process, so it shares no GIL with the simulator or with the other workers. It
reads the complete Settings as JSON on stdin (secrets never go on a command line), runs
the real ``run_worker`` (the SDK client against ``claude.base_url``), and meanwhile
samples what the controller does every ``--interval`` seconds into a JSON-lines file:

``{"ts": epoch s, "dispatched", "processed", "results", "dead", "assigned", "limit", "inflight",
"waiting", "requests_budget", "share", "cap", "outcomes": {attempt outcome: count}}``
(``requests_budget`` is the pacer's local view of the server's request bucket, None until a
header showed it; ``cap`` this worker's estimate of a 529 cap its group shares, or None)

Wall-clock (epoch) times are used on purpose: the parent lines the samples of several
workers up with each other and with the simulator's per-second timeline, and processes
on one machine share that clock.

Stopping: ``--duration`` seconds after the first record was dispatched, the worker either
calls ``processor.request_stop()`` (stop fetching, drain what is in flight, commit) or,
with ``--finish``, keeps going until the backlog is empty (``StopPolicy(until_idle_s)``)
so that every published offset ends in a result or DLQ record. The last stdout line is
one JSON object, ``WorkerSummary``. ``STREAM_BENCH_PROFILE=1`` in the environment
profiles the worker's run with cProfile into ``<samples>.prof``.
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
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from stream.calls import Caller
from stream.claude.instant import InstantClaudeClient
from stream.claude.types import ClaudeClient
from stream.config import Settings, load_settings
from stream.processor import Processor, StopPolicy
from stream.telemetry.setup import configure_telemetry
from stream.worker import run_worker

__all__ = ["ControllerSampler", "WorkerSummary", "caller_of", "main", "run"]

_PROFILE_ENV = "STREAM_BENCH_PROFILE"


@dataclass(slots=True)
class WorkerSummary:
    """What one worker process reports back (times are epoch seconds)."""

    worker_id: str
    exit_code: int = 0
    dispatched: int = 0
    processed: int = 0
    results: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    attempt_outcomes: dict[str, int] = field(default_factory=dict)
    started_ts: float = 0.0  # the process began run_worker
    first_dispatch_ts: float | None = None
    stop_ts: float | None = None  # duration reached (stop requested, or finishing began)
    ended_ts: float = 0.0  # run_worker returned
    cpu_s: float = 0.0  # user + system CPU of the whole process life (imports included)


def caller_of(processor: Processor) -> Caller | None:
    """The worker's ``Caller`` (its limiters), reached through the record handler.

    ``run_worker``'s ``on_start`` hook hands over only the processor; the limiter state
    lives in the handler's caller. Read-only access; None if the layout ever changes,
    and the samples then carry no limit/in-flight figures rather than failing the run.
    """
    handler = getattr(processor, "_handler", None)
    caller = getattr(handler, "_caller", None)
    return caller if isinstance(caller, Caller) else None


class ControllerSampler:
    """Samples a running worker every ``interval_s`` and decides when its time is up."""

    def __init__(
        self,
        summary: WorkerSummary,
        out: IO[str],
        *,
        interval_s: float,
        duration_s: float,
        finish: bool,
    ) -> None:
        self._summary = summary
        self._out = out
        self._interval = interval_s
        self._duration = duration_s
        self._finish = finish
        self._processor: Processor | None = None
        self._caller: Caller | None = None

    def attach(self, processor: Processor) -> None:
        self._processor = processor
        self._caller = caller_of(processor)

    async def run(self) -> None:
        """Sample until cancelled; request the stop once the duration has passed.

        Until the first record is dispatched it looks every 50 ms, so that moment (the
        parent's t0) is known to within 50 ms."""
        while True:
            first = self._summary.first_dispatch_ts
            await asyncio.sleep(self._interval if first is not None else 0.05)
            self.sample()

    def sample(self) -> None:
        processor = self._processor
        if processor is None:
            return
        now = time.time()
        summary = self._summary
        stats = processor.stats
        if summary.first_dispatch_ts is None and stats.dispatched > 0:
            summary.first_dispatch_ts = now
        first = summary.first_dispatch_ts
        if first is not None and summary.stop_ts is None and now - first >= self._duration:
            summary.stop_ts = now
            if not self._finish:
                processor.request_stop()
        self._out.write(json.dumps(self._row(processor, now)) + "\n")
        self._out.flush()

    def _row(self, processor: Processor, now: float) -> dict[str, Any]:
        stats = processor.stats
        row: dict[str, Any] = {
            "ts": round(now, 3),
            "dispatched": stats.dispatched,
            "processed": stats.processed,
            "results": stats.results,
            "dead": sum(stats.dead_lettered.values()),
            "assigned": processor.assigned,
            "limit": None,
            "inflight": None,
            "waiting": None,
            "requests_budget": None,
            "share": None,
            "cap": None,
            "outcomes": {},
        }
        caller = self._caller
        if caller is not None:
            controls = list(caller.controls.values())
            if controls:
                row["limit"] = sum(c.limiter.limit for c in controls)
                row["inflight"] = sum(c.limiter.inflight for c in controls)
                row["waiting"] = sum(c.limiter.waiting for c in controls)
                row["share"] = round(min(c.pacer.share for c in controls), 3)
                caps = [u.cap.value for u in caller.cap_shares.uses().values() if u.cap]
                row["cap"] = max(caps, default=None)
                buckets = [b for c in controls if (b := c.pacer.bucket("requests")) is not None]
                if buckets:  # the pacer's view of the server's request budget
                    row["requests_budget"] = round(sum(b.level for b in buckets), 1)
            row["outcomes"] = {o.value: n for o, n in caller.outcomes.items()}
        return row


async def run(
    settings: Settings,
    samples: IO[str],
    *,
    duration_s: float,
    finish: bool,
    interval_s: float = 0.5,
    idle_s: float = 10.0,
    client: ClaudeClient | None = None,
) -> WorkerSummary:
    """Run one worker with the sampler attached; return its summary."""
    summary = WorkerSummary(worker_id=settings.processing.worker_id, started_ts=time.time())
    sampler = ControllerSampler(
        summary, samples, interval_s=interval_s, duration_s=duration_s, finish=finish
    )
    sampling = asyncio.create_task(sampler.run())
    stop = StopPolicy(until_idle_s=idle_s) if finish else StopPolicy()
    try:
        report = await run_worker(
            settings, stop=stop, on_start=sampler.attach, client=client, freeze_gc=True
        )
    finally:
        sampling.cancel()
    sampler.sample()  # the final counters, after the drain
    summary.ended_ts = time.time()
    stats = report.stats
    summary.exit_code = report.exit_code
    summary.dispatched = stats.dispatched
    summary.processed = stats.processed
    summary.results = stats.results
    summary.dead_lettered = dict(stats.dead_lettered)
    summary.attempt_outcomes = dict(report.attempt_outcomes)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary.cpu_s = usage.ru_utime + usage.ru_stime
    return summary


@contextlib.contextmanager
def _profiled(samples: Path) -> Iterator[None]:
    """With ``STREAM_BENCH_PROFILE=1``, cProfile the worker's run (after the imports)
    into ``<samples>.prof`` (``python -m pstats`` reads it)."""
    if os.environ.get(_PROFILE_ENV) != "1":
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(str(samples.with_suffix(".prof")))


def main(argv: list[str] | None = None) -> int:
    """Entry point: settings JSON on stdin, samples to ``--samples``, summary on stdout."""
    parser = argparse.ArgumentParser(prog="python -m stream.bench.scenario_worker")
    parser.add_argument("--duration", type=float, required=True, help="seconds after first record")
    parser.add_argument("--samples", type=Path, required=True, help="JSON-lines file to write")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--finish", action="store_true", help="drain the backlog after duration")
    parser.add_argument("--idle", type=float, default=10.0, help="with --finish: idle s to exit")
    parser.add_argument("--instant", action="store_true", help="the no-network Claude stand-in")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = load_settings(None, json.loads(sys.stdin.read()))
    handle = configure_telemetry(settings.telemetry)
    try:
        with args.samples.open("w", encoding="utf-8") as samples, _profiled(args.samples):
            summary = asyncio.run(
                run(
                    settings,
                    samples,
                    duration_s=args.duration,
                    finish=args.finish,
                    interval_s=args.interval,
                    idle_s=args.idle,
                    client=InstantClaudeClient() if args.instant else None,
                )
            )
    finally:
        handle.shutdown()
    sys.stdout.write(json.dumps(asdict(summary)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
