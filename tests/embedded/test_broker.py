"""The embedded broker starts, carries real Kafka traffic, stops, clashes loudly, never leaks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.config import load_settings
from stream.embedded import EmbeddedBroker
from stream.errors import BrokerError
from stream.kafka.admin import ensure_topics
from stream.kafka.producer import KafkaSink
from stream.kafka.reader import read_topic

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pid: int, limit_s: float = 15.0) -> bool:
    """Poll until the process is gone (a bound for a hung test, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _tansu_pids_on(port: int) -> list[int]:
    needle = f"tcp://127.0.0.1:{port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes() and _alive(int(entry.name)):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture
def listener() -> Iterator[int]:
    """A port held by a plain TCP listener that is not a Kafka broker."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def test_broker_started_carries_produce_and_consume_through_aiokafka() -> None:
    """Records produced with acks=all through the broker are read back intact."""
    with EmbeddedBroker() as broker:
        kafka = load_settings(
            None,
            {
                "kafka.bootstrap_servers": broker.bootstrap_servers,
                "kafka.profile": "embedded",
                "kafka.topics.input": "probe",
            },
        ).kafka
        await ensure_topics(kafka)
        async with KafkaSink(kafka) as sink:
            sent = [
                await sink.send_and_wait("probe", f"v{i}".encode(), key=f"k{i}".encode())
                for i in range(20)
            ]
        got = [r async for r in read_topic(kafka, "probe")]
    assert sorted(r.value or b"" for r in got) == sorted(f"v{i}".encode() for i in range(20))
    assert {(d.partition, d.offset) for d in sent} == {(r.partition, r.offset) for r in got}


def test_broker_start_returns_bootstrap_on_loopback_with_live_pid() -> None:
    """start() returns "127.0.0.1:PORT" of a running process that owns that port."""
    with EmbeddedBroker() as broker:
        assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        assert broker.pid is not None and _alive(broker.pid)
        assert _tansu_pids_on(broker.port or 0) == [broker.pid]


def test_broker_stop_process_is_gone_and_reaped() -> None:
    """After stop() the PID no longer exists (not even as a zombie) and stop is idempotent."""
    broker = EmbeddedBroker()
    broker.start()
    pid = broker.pid
    assert pid is not None
    broker.stop()
    assert not _alive(pid)
    assert broker.pid is None and not broker.running
    broker.stop()


def test_broker_given_port_taken_by_plain_listener_raises_port_clash(listener: int) -> None:
    """A port owned by another listener gives BrokerError naming the clash, no leftover."""
    with pytest.raises(BrokerError, match=f"port {listener} .* already in use"):
        EmbeddedBroker(port=listener).start()
    assert _tansu_pids_on(listener) == []


def test_broker_given_port_of_another_broker_raises_even_though_probe_answers() -> None:
    """The other broker answers the probe, yet our dead process is detected and reported."""
    with EmbeddedBroker() as first:
        with pytest.raises(BrokerError, match="already in use"):
            EmbeddedBroker(port=first.port).start()
        assert first.running


def test_broker_not_started_bootstrap_raises_broker_error() -> None:
    """Asking for the address of a broker that is not running is an error, not a guess."""
    with pytest.raises(BrokerError, match="not running"):
        _ = EmbeddedBroker().bootstrap_servers


_CHILD = textwrap.dedent(
    """
    import sys, time
    from stream.embedded import EmbeddedBroker
    broker = EmbeddedBroker()
    broker.start()
    print(broker.pid, flush=True)
    sys.stdin.readline()  # the test checks the broker is up, then lets us go on
    if sys.argv[1] == "exit":
        sys.exit(0)
    time.sleep(60)
    """
)


@pytest.mark.parametrize(
    ("mode", "sig"),
    [("exit", None), ("wait", signal.SIGTERM), ("wait", signal.SIGINT), ("wait", signal.SIGKILL)],
    ids=["normal-exit", "sigterm", "sigint", "sigkill"],
)
def test_broker_parent_goes_away_leaves_no_orphan(mode: str, sig: signal.Signals | None) -> None:
    """Whether the owner exits, is terminated, interrupted or killed, its broker goes too."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        broker_pid = int(child.stdout.readline())
        assert _alive(broker_pid)
        if sig is None:
            child.stdin.write(b"go\n")
            child.stdin.flush()
        else:
            child.send_signal(sig)
        child.wait(timeout=30)
        assert _wait_gone(broker_pid), f"broker {broker_pid} outlived its parent ({mode}, {sig})"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_cli_broker_prints_bootstrap_and_stops_on_sigterm() -> None:
    """``docstream broker`` prints its address and export hints; SIGTERM stops it, exit 0."""
    child = subprocess.Popen(
        [sys.executable, "-m", "stream", "broker"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        bootstrap = first.split(" listening on ")[1].split()[0]
        pid = int(first.split("(pid ")[1].rstrip(")\n"))
        hints = [child.stdout.readline() for _ in range(3)]
        assert f"export DOCSTREAM_KAFKA__BOOTSTRAP_SERVERS={bootstrap}" in hints[1]
        assert "DOCSTREAM_KAFKA__PROFILE=embedded" in hints[2]
        assert _alive(pid)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
        assert "broker stopped" in child.stdout.read()
        assert _wait_gone(pid)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
