"""``SimulatorProcess``: the simulator in its own process (``python -m stream simulate``).

Benchmarks and multi-process tests use it so that the simulator does not share a GIL —
or an event loop — with the worker being measured. The child prints one line,
``simulator listening on http://HOST:PORT``; we parse it, and stop the child with
SIGTERM (then SIGKILL if it does not exit in time).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from types import TracebackType
from typing import IO, Any

from stream.simulator.config import SimulatorConfig, format_schedule
from stream.simulator.server import admin_call

__all__ = ["SimulatorProcess", "config_args"]

_LISTENING = re.compile(r"^simulator listening on (http://\S+)$")


def config_args(config: SimulatorConfig) -> list[str]:
    """The ``docstream simulate`` flags that reproduce ``config``."""
    args = ["--host", config.host, "--port", str(config.port)]
    for flag, value in (
        ("--rpm", config.rpm),
        ("--itpm", config.itpm),
        ("--otpm", config.otpm),
        ("--max-concurrency", config.max_concurrency),
    ):
        if value is not None:
            args += [flag, str(value)]
    args += [
        "--latency", repr(config.base_latency_s),
        "--per-token-latency", repr(config.per_token_latency_s),
        "--jitter", repr(config.jitter),
        "--out-min", str(config.out_min),
        "--out-max", str(config.out_max),
        "--error-rate", repr(config.error_rate),
        "--bucket-s", repr(config.bucket_s),
        "--seed", str(config.seed),
    ]  # fmt: skip
    if config.schedule:
        args += ["--schedule", format_schedule(config.schedule)]
    return args


class SimulatorProcess:
    """Runs the simulator in a child process; a sync context manager."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        python: str = sys.executable,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.config = config or SimulatorConfig()
        self._python = python
        self._startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("simulator process not started")
        return self._base_url

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("simulator process not started")
        return self._proc.pid

    def start(self) -> str:
        """Start the child and return its base URL once it is listening."""
        cmd = [self._python, "-m", "stream", "simulate", *config_args(self.config)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdout is not None
        line = _read_line(self._proc.stdout, self._startup_timeout_s)
        match = _LISTENING.match(line.strip()) if line else None
        if match is None:
            code = self._proc.poll()
            self.stop()
            raise RuntimeError(
                f"simulator process did not start (exit code {code}, first line {line!r})"
            )
        self._base_url = match.group(1)
        return self._base_url

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """``GET /stats`` of the child."""
        return admin_call(self.base_url, "GET", "/stats")

    def set_fault(self, mode: str | None, rate: float = 1.0, retry_after_s: int = 1) -> None:
        if mode is None:
            admin_call(self.base_url, "DELETE", "/admin/faults")
        else:
            payload = {"mode": mode, "rate": rate, "retry_after": retry_after_s}
            admin_call(self.base_url, "POST", "/admin/faults", payload)

    def configure(self, **changes: float | None) -> None:
        admin_call(self.base_url, "POST", "/admin/limits", dict(changes))

    def reset(self) -> None:
        admin_call(self.base_url, "POST", "/admin/reset", {})


def _read_line(stream: IO[str], timeout_s: float) -> str:
    """The child's first stdout line, or '' if none arrives in time or it exits."""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if selector.select(left):
                return stream.readline()
    return ""
