"""A real worker process: SIGTERM drains and commits; SIGKILL never loses a committed offset."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from stream.config import Settings
from stream.processor import StopPolicy
from stream.simulator import SimulatorConfig, SimulatorProcess
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.fixtures.env import worker_env
from tests.processor.helpers import Coord, account, committed, doc, publish

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def slow_simulator() -> Iterator[str]:
    """Calls take ~0.3 s, so a signal always lands with calls in flight."""
    with SimulatorProcess(SimulatorConfig(base_latency_s=0.3, jitter=0.3)) as sim:
        yield sim.base_url


async def _start_worker(settings: Settings, base_url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process is quick; we poll it
        [sys.executable, "-m", "stream", "run", "--until-idle", "60"],
        env=worker_env(settings, base_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(300):  # until the first commit proves it is processing
        await asyncio.sleep(0.1)
        if await committed(settings):
            return proc
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    proc.kill()
    raise AssertionError("worker never committed")


def _below(positions: dict[int, int], coords: list[Coord]) -> set[Coord]:
    return {(p, o) for p, o in coords if o < positions.get(p, 0)}


async def test_sigterm_drains_in_flight_and_commits_everything_written(
    settings_factory: SettingsFactory, slow_simulator: str
) -> None:
    """After SIGTERM: exit 0, outputs exactly cover the committed prefix, a restart adds
    no duplicate."""
    settings = settings_factory()
    coords = await publish(settings, [doc(f"d{i}") for i in range(400)])
    proc = await _start_worker(settings, slow_simulator)

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 60) == 0

    positions = await committed(settings)
    books = await account(settings)
    assert books.outcomes() == {c: 1 for c in _below(positions, coords)}
    await run_worker(settings, stop=StopPolicy(until_idle_s=1.0), client=ScriptedClaude())
    assert (await account(settings)).outcomes() == {c: 1 for c in coords}


async def test_sigkill_mid_run_loses_nothing_below_committed_offsets(
    settings_factory: SettingsFactory, slow_simulator: str
) -> None:
    """kill -9: every offset below the committed position has its output; a restart
    completes the rest with duplicates bounded by the in-flight window."""
    settings = settings_factory()
    coords = await publish(settings, [doc(f"d{i}") for i in range(400)])
    proc = await _start_worker(settings, slow_simulator)
    await asyncio.sleep(0.5)

    proc.kill()
    await asyncio.to_thread(proc.wait, 30)

    positions = await committed(settings)
    books = await account(settings)
    missing = _below(positions, coords) - set(books.outcomes())
    assert missing == set()
    await run_worker(settings, stop=StopPolicy(until_idle_s=1.5), client=ScriptedClaude())
    final = (await account(settings)).outcomes()
    assert set(final) == set(coords)
    duplicates = sum(final.values()) - len(coords)
    assert duplicates <= settings.processing.buffer_size
