"""The README's Faust app, run as written by a Faust worker process: results, a DLQ
record and the outcome table; and kill -9 mid-stream loses nothing."""

from __future__ import annotations

import ast
import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from stream.config import Settings
from stream.kafka.group import committed_offsets
from stream.models import HEADER_PREFIX
from stream.simulator import SimulatorServer
from tests.faust.helpers import publish
from tests.faust.worker_process import FaustWorker, write_app
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import header, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(400)]


def _doc(doc_id: str, text: str = "hello") -> bytes:
    return json.dumps({"id": doc_id, "text": text}).encode()


async def _result_ids(settings: Settings) -> Counter[str]:
    records = await read_all(settings, settings.kafka.topics.results)
    return Counter(json.loads(r.value or b"")["document_id"] for r in records)


async def _until(  # type: ignore[no-untyped-def]
    condition, what: str, worker: FaustWorker, timeout_s: float = 120.0
) -> None:
    """Poll ``condition`` (async, returns bool); a bound on a hang, not a measurement."""
    try:
        async with asyncio.timeout(timeout_s):
            while not await condition():  # noqa: ASYNC110 - a broker or another process
                await asyncio.sleep(0.25)
    except TimeoutError:
        tail = worker.log()[-4000:]
        raise AssertionError(f"gave up waiting for {what}; worker log:\n{tail}") from None


def _last_table(log: str) -> dict[str, int]:
    lines = [line for line in log.splitlines() if "outcomes: {" in line]
    return ast.literal_eval(lines[-1].split("outcomes: ", 1)[1].strip()) if lines else {}


async def test_the_readme_app_writes_results_a_dead_letter_and_counts_outcomes(
    settings_factory: SettingsFactory,
    simulator_factory: Callable[..., Awaitable[SimulatorServer]],
    tmp_path: Path,
) -> None:
    """Results and a DLQ record on their topics, the outcome table counted in the agent;
    SIGTERM mid-stream drains: Faust waits for every started event to be acked, so each
    document has exactly one result and every offset is committed."""
    simulator = await simulator_factory(base_latency_s=0.05)
    settings = settings_factory(
        {
            "claude.base_url": simulator.base_url,
            "limits.algorithm": "fixed",  # two calls at a time: the stop finds work in flight
            "limits.initial_concurrency": 2,
            "limits.max_concurrency": 2,
        }
    )
    ids = [f"doc-{i}" for i in range(20)]
    await publish(settings, [b"\xff not utf-8"] + [_doc(d) for d in ids])
    worker = FaustWorker(write_app(tmp_path), settings, "worker")
    try:
        await _until(lambda: _table_has_results(worker, 3), "the first results", worker)
    finally:
        # off the loop: the simulator serves the draining worker from this event loop
        code = await asyncio.to_thread(worker.stop)
    assert code == 0, worker.log()[-3000:]
    assert _last_table(worker.log()) == {"result": 20, "bad_input": 1}
    assert await _result_ids(settings) == Counter(ids)  # drained: each exactly once
    (dlq,) = await read_all(settings, settings.kafka.topics.dlq)
    assert dlq.value == b"\xff not utf-8"
    assert header(dlq, HEADER_PREFIX + "error.class") == "invalid_utf8"
    assert header(dlq, HEADER_PREFIX + "consumer.group") == settings.kafka.group_id
    committed = await committed_offsets(
        settings.kafka, settings.kafka.group_id, settings.kafka.topics.input
    )
    assert sum(committed.values()) == 21


async def _table_has_results(worker: FaustWorker, count: int) -> bool:
    return _last_table(worker.log()).get("result", 0) >= count


async def test_kill_9_mid_stream_then_restart_loses_no_document(
    settings_factory: SettingsFactory, simulator: SimulatorServer, tmp_path: Path
) -> None:
    """Partition 0's first document hangs while the four after it finish; partition 1's
    documents finish and get committed, so Faust has committed since. kill -9, restart:
    the hung document is redelivered (its offset was never committed past) and every
    document has a result."""
    settings = settings_factory(
        {"claude.base_url": simulator.base_url, "kafka.topics.partitions": 2}
    )
    topics = settings.kafka.topics
    slow = ["p0-0"]
    fast = [f"p0-{i}" for i in range(1, 5)]
    await publish(
        settings, [_doc("p0-0", "[[sim:hang*1]] slow")] + [_doc(d) for d in fast], partition=0
    )
    app = write_app(tmp_path)
    first = FaustWorker(app, settings, "first")
    try:
        await _until(lambda: _has(settings, fast), "partition 0's fast documents", first)
        later = [f"p1-{i}" for i in range(3)]
        await publish(settings, [_doc(d) for d in later], partition=1)

        async def partition_1_committed() -> bool:
            offsets = await committed_offsets(settings.kafka, settings.kafka.group_id, topics.input)
            return offsets.get(1) == len(later)

        await _until(partition_1_committed, "a commit after the fast documents", first)
        committed = await committed_offsets(settings.kafka, settings.kafka.group_id, topics.input)
        assert committed.get(0, 0) == 0, "committed past the document still in flight"
    finally:
        await asyncio.to_thread(first.kill)
    second = FaustWorker(app, settings, "second")
    try:
        await _until(lambda: _has(settings, slow), "the hung document after the restart", second)
    finally:
        await asyncio.to_thread(second.stop)
    ids = await _result_ids(settings)
    assert set(ids) == set(slow + fast + later)  # duplicates allowed: at least once


async def _has(settings: Settings, ids: list[str]) -> bool:
    return set(ids) <= set(await _result_ids(settings))
