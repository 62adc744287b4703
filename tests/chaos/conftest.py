"""Fixtures of the chaos suite (``make chaos``) and the table it prints at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from stream.embedded import EmbeddedBroker
from tests.chaos.books import Row, format_table
from tests.fixtures.broker import SettingsFactory

ROWS: list[Row] = []

# Small enough that the crash window (I2) is a real constraint at 24 calls in flight.
WINDOW = 50


@pytest.fixture
def chaos_settings(settings_factory: SettingsFactory) -> SettingsFactory:
    def make(overrides: dict[str, Any] | None = None, /, **kw: Any) -> Any:
        values: dict[str, Any] = {
            "processing.buffer_size": WINDOW,
            "processing.commit_interval_s": 0.2,
            # 2 s (the other tests' value) is too short here: with several workers, the
            # simulator and the broker on two busy cores, a member that misses it makes
            # the embedded broker restart the join, over and over (measured: a group
            # stuck rejoining at one generation for minutes).
            "kafka.session_timeout_ms": 6000,
            "kafka.heartbeat_interval_ms": 1000,
        }
        return settings_factory({**values, **(overrides or {}), **kw})

    return make


@pytest.fixture
def record_row() -> Iterator[list[Row]]:
    rows: list[Row] = []
    yield rows
    ROWS.extend(rows)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.write_sep("=", "chaos: invariants per scenario")
        terminalreporter.write_line(format_table(ROWS))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3 server in a child process with one bucket, ``tansu``."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(f"{url}/tansu", method="PUT"))
                break
            except OSError:
                assert proc.poll() is None, "moto server exited"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_broker(s3_server: str) -> Iterator[EmbeddedBroker]:
    """A Tansu broker that keeps its data in S3, on a fixed port so it can be restarted."""
    env = {
        "AWS_ACCESS_KEY_ID": "chaos",
        "AWS_SECRET_ACCESS_KEY": "chaos",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": s3_server,
        "AWS_ALLOW_HTTP": "true",
    }
    broker = EmbeddedBroker(_free_port(), storage="s3://tansu/", storage_env=env)
    broker.start()
    try:
        yield broker
    finally:
        if broker.pid is not None and broker.running:
            os.kill(broker.pid, signal.SIGCONT)  # a scenario may have stopped it
        broker.stop()
