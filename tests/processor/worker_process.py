"""A real worker in its own process (``python -m stream run``), for kill -9 and signal tests.

Its log goes to a file, not a pipe: a chatty worker would otherwise block on a full pipe.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from stream.config import Settings
from tests.fixtures.env import worker_env

__all__ = ["WorkerProcess", "wait_until", "worker_env"]


class WorkerProcess:
    """One ``docstream run`` child; ``kill()`` is kill -9, ``stop()`` is SIGTERM + wait."""

    def __init__(
        self,
        settings: Settings,
        base_url: str,
        *,
        args: tuple[str, ...] = ("--until-idle", "60"),
        extra_env: Mapping[str, str] | None = None,
        verbose: bool = False,
    ) -> None:
        self.log_text = ""
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in wait()
            prefix="docstream-worker-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream", *(["-v"] if verbose else []), "run", *args],
            env=worker_env(settings, base_url, extra_env),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        self.proc.kill()
        return self.wait(30)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._close_log()

    def _close_log(self) -> None:
        if self._log.closed:
            return
        self._log.close()
        path = Path(self._log.name)
        self.log_text = path.read_text(errors="replace")
        path.unlink(missing_ok=True)


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, attempts: int = 300, every_s: float = 0.1
) -> None:
    """Poll ``check`` until it holds; fail after ``attempts`` tries (a hang guard, not a
    timing assertion)."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(every_s)
    raise AssertionError("condition never held")
