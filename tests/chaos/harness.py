"""One chaos scenario: real worker processes, the simulator, faults, and the books."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stream.config import Settings
from tests.chaos.books import Books, Row, input_coords
from tests.processor.helpers import account
from tests.processor.worker_process import WorkerProcess, wait_until

__all__ = ["FAST_RETRIES", "Chaos"]

# Retries and pauses short enough for a scenario of seconds; the budget (6 attempts)
# stays the default.
FAST_RETRIES = {
    "DOCSTREAM_LIMITS__BACKOFF_BASE_S": "0.05",
    "DOCSTREAM_LIMITS__BACKOFF_MAX_S": "0.5",
    "DOCSTREAM_LIMITS__PAUSE_ON_FATAL_S": "2",
    "DOCSTREAM_PROCESSING__DRAIN_DEADLINE_S": "5",
}


@dataclass
class Chaos:
    settings: Settings
    base_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    books: Books = field(init=False)
    workers: list[WorkerProcess] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.books = Books(self.settings)

    def spawn(self, until_idle_s: float = 3.0, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            self.settings,
            self.base_url,
            args=("--until-idle", str(until_idle_s)),
            extra_env={**FAST_RETRIES, **self.env, **env},
            verbose=True,  # INFO: assignments and revokes, for a worker that had to be killed
        )
        self.workers.append(worker)
        return worker

    async def done(self) -> int:
        """Input offsets with at least one output (result or DLQ record)."""
        return len((await account(self.settings)).outcomes())

    async def progress(self, at_least: int, attempts: int = 150) -> None:
        """Wait until ``at_least`` input offsets have an output."""

        async def enough() -> bool:
            return await self.done() >= at_least

        await wait_until(enough, attempts=attempts, every_s=0.1)

    async def kill9(self, worker: WorkerProcess) -> None:
        await asyncio.to_thread(worker.kill)
        self.books.crashes += 1

    def signal(self, worker: WorkerProcess, sig: signal.Signals) -> None:
        os.kill(worker.pid, sig)

    async def exit_code(self, worker: WorkerProcess, timeout_s: float = 60.0) -> int | None:
        """The worker's exit code; None (and a note) if it had to be killed."""
        try:
            return await asyncio.to_thread(worker.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.notes.append(f"worker {worker.pid} still running after {timeout_s:.0f} s")
            self.books.crashes += 1
            _keep_log(worker)
            return None

    async def finish(self, timeout_s: float = 90.0, tries: int = 3) -> None:
        """A last worker drains what is left (nothing, when the scenario recovered).

        A member that died unseen (kill -9, SIGSTOP) keeps its partitions until its
        session expires, and a last worker that joined before that finds only its own
        share, idles and exits: then another one runs (said in the note)."""
        inputs = len(await input_coords(self.settings))
        for attempt in range(tries):
            worker = self.spawn(until_idle_s=2.0)
            code = await self.exit_code(worker, timeout_s)
            if code != 0:
                self.notes.append(f"final worker exited {code}")
            left = inputs - await self.done()
            if left == 0:
                return
            if attempt + 1 < tries:
                self.notes.append(f"{left} offsets left after a final worker: one more ran")

    async def close(self, scenario: str) -> Row:
        for worker in self.workers:
            if worker.alive():
                self.notes.append(f"worker {worker.pid} left running, killed")
                worker.kill()
        note = "; ".join(self.notes)
        row = await self.books.close(scenario, time.monotonic() - self.started, note)
        if not row.ok:  # every worker's log, to find out which handover wrote twice
            for worker in self.workers:
                _keep_log(worker)
        return row


def _keep_log(worker: WorkerProcess) -> None:
    """The log of a worker that had to be killed, for a look afterwards."""
    folder = Path(tempfile.gettempdir()) / "docstream-chaos-logs"
    folder.mkdir(exist_ok=True)
    (folder / f"worker-{worker.pid}.log").write_text(worker.log_text)
