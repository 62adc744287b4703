"""Running ``docstream`` as a user does: a separate process, real stdout/stderr and exit code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any DOCSTREAM_*/OTEL_*/API key settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCSTREAM_", "OTEL_", "ANTHROPIC_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def docstream(
    args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream", *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def dead_address() -> str:
    """host:port where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"
