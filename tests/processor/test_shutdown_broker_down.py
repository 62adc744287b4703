"""The fault campaign's hang: a worker whose broker went away must still end on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import pytest

from stream.config import load_settings
from stream.embedded import EmbeddedBroker
from stream.simulator import SimulatorProcess
from tests.fixtures.env import child_env
from tests.processor.helpers import committed, doc, publish

pytestmark = pytest.mark.kafka

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


async def test_sigterm_ends_the_worker_when_the_broker_is_gone(
    simulator_process_factory: Callable[..., SimulatorProcess],
) -> None:
    """The broker dies under a running worker; SIGTERM still ends it (the final commit
    and the producer's flush give up at their deadlines) with exit code 1: it could not
    commit. Before, it retried the commit and the connection forever."""
    # Calls take ~0.3 s, so records are in flight and results unacknowledged at the end.
    simulator = simulator_process_factory(base_latency_s=0.3)
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    try:
        settings = load_settings(
            None,
            {
                "kafka.bootstrap_servers": bootstrap,
                "kafka.profile": "embedded",
                "kafka.group_id": "down",
                "kafka.topics.input": "down",
                "kafka.topics.results": "down.results",
                "kafka.topics.dlq": "down.dlq",
                "kafka.session_timeout_ms": 2000,
                "kafka.heartbeat_interval_ms": 500,
            },
        )
        await publish(settings, [doc(f"d{i}") for i in range(50)])
        env = child_env(
            settings,
            simulator.base_url,
            {
                "DOCSTREAM_PROCESSING__COMMIT_INTERVAL_S": "0.2",
                "DOCSTREAM_PROCESSING__DRAIN_DEADLINE_S": "1",
            },
        )
        proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process is quick
            [sys.executable, "-m", "stream", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(300):  # until its first commit: it is processing
            await asyncio.sleep(0.1)
            if await committed(settings):
                break
        assert proc.poll() is None
    finally:
        broker.stop()
    try:
        await asyncio.sleep(1.0)  # the worker now meets a dead broker
        proc.send_signal(signal.SIGTERM)
        # A liveness guard, not a speed figure: without the deadlines it never ends.
        code = await asyncio.to_thread(proc.wait, 120)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert code in (0, 1), stderr[-2000:]  # 1 when there was something left to commit
    assert "Traceback" not in stderr
    # aiokafka retries every ~100 ms and logs each try; each line now shows up once
    # (then counted), not once per retry.
    lines = Counter(_TIMESTAMP.sub("", line) for line in stderr.splitlines() if " aiokafka" in line)
    assert lines and max(lines.values()) <= 2, lines.most_common(3)
