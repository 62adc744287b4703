"""The benchmarks' worker processes: start one (``scenario_worker``, settings on stdin),
wait until the group has settled on its partitions, stop them all with SIGTERM.

Shared by ``bench job`` and ``bench latency``; the samples each worker writes (one JSON
line per interval, ``assigned`` among them) are how the settling is seen from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.bench.overhead import settings_payload
from stream.config import Settings
from stream.errors import DocstreamError

__all__ = ["start_worker", "stop_workers", "wait_settled"]

_SETTLE_S = 4.0  # no assignment change for this long = the group has settled
_JOIN_TIMEOUT_S = 120.0


async def start_worker(
    settings: Settings, samples: Path, *, instant: bool = False
) -> asyncio.subprocess.Process:
    """A ``scenario_worker`` process (``instant``: the no-network Claude stand-in)."""
    args = [sys.executable, "-m", "stream.bench.scenario_worker"]
    args += ["--duration", "1e9", "--samples", str(samples)]  # stopped by SIGTERM
    if instant:
        args.append("--instant")
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(settings_payload(settings)).encode("utf-8"))
    await proc.stdin.drain()
    proc.stdin.close()
    return proc


async def stop_workers(procs: list[asyncio.subprocess.Process]) -> list[dict[str, Any]]:
    """SIGTERM (drain, commit, exit) each worker; returns their summaries."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    summaries = []
    for proc in procs:
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 60.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            continue
        lines = out.decode("utf-8", errors="replace").strip().splitlines()
        with contextlib.suppress(ValueError, IndexError):
            summaries.append(json.loads(lines[-1]))
    return summaries


async def wait_settled(
    paths: list[Path], partitions: int, on_change: Callable[[str], None] | None = None
) -> None:
    """Until every partition is assigned, each worker holds one (if it can), and nothing
    changed for ``_SETTLE_S``; ``on_change("ready")`` at every change of assignment (so
    the last call is the end of the start-up)."""
    deadline = time.monotonic() + _JOIN_TIMEOUT_S
    last: tuple[int, ...] | None = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = tuple(_last_assigned(p) for p in paths)
        if now != last:
            last, since = now, time.monotonic()
            if on_change is not None:
                on_change("ready")
            continue
        settled = sum(now) == partitions and all(n > 0 for n in now[:partitions])
        if settled and time.monotonic() - since >= _SETTLE_S:
            return
    raise DocstreamError(f"the workers did not settle on {partitions} partitions in time")


def _last_assigned(path: Path) -> int:
    if not path.exists():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in reversed(lines):
        with contextlib.suppress(ValueError, KeyError):
            return int(json.loads(line)["assigned"])
    return 0
