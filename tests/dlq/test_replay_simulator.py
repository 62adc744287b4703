"""Replay end to end: the real worker with the SDK against the simulator, the real broker.

A simulator fault fills the DLQ; once the fault is switched off a replay sends each
document back and the worker turns each into exactly one result.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from stream.dlq.records import REPLAY_COUNT_HEADER, REPLAY_FROM_HEADER
from stream.simulator import SimulatorServer, admin_call
from stream.telemetry.setup import install_in_memory
from tests.dlq.helpers import (
    FAST,
    doc,
    header,
    publish,
    read_all,
    replay_once,
    replayed_records,
    result_counts,
    run_worker_sdk,
    sources,
)
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka


async def set_fault(simulator: SimulatorServer, body: dict[str, Any] | None) -> None:
    """The admin endpoint over HTTP (from a thread: the server runs in this loop)."""
    method = "DELETE" if body is None else "POST"
    await asyncio.to_thread(admin_call, simulator.base_url, method, "/admin/faults", body)


async def test_replay_after_fault_cleared_yields_one_result_per_document(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """error500 -> retries_exhausted DLQ; fault off, replay, run: one result each, count 1."""
    settings = settings_factory(FAST, **{"claude.base_url": simulator.base_url})
    ids = [f"doc-{i}" for i in range(8)]
    await publish(settings, [doc(i, f"text of {i}") for i in ids])
    await set_fault(simulator, {"mode": "error500", "rate": 1})

    first = await run_worker_sdk(settings)

    assert first.stats.results == 0
    dlq = await read_all(settings, settings.kafka.topics.dlq)
    assert sorted(header(r, "docstream.error.outcome") or "" for r in dlq) == [
        "retries_exhausted"
    ] * len(ids)
    await set_fault(simulator, None)

    summary = await replay_once(settings)
    second = await run_worker_sdk(settings)

    assert summary.replayed == len(ids) and summary.skipped_max_replays == 0
    assert second.stats.results == len(ids)
    assert await result_counts(settings) == {i: 1 for i in ids}
    results: list[dict[str, Any]] = [
        json.loads(r.value or b"") for r in await read_all(settings, settings.kafka.topics.results)
    ]
    assert {r["replay_count"] for r in results} == {1}
    replayed = await replayed_records(settings)
    assert set(sources(replayed).values()) == {1}
    assert {header(r, REPLAY_COUNT_HEADER) for r in replayed} == {"1"}
    assert all(
        (header(r, REPLAY_FROM_HEADER) or "").startswith(settings.kafka.topics.dlq + "/")
        for r in replayed
    )


async def test_replay_second_run_replays_nothing(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """The replay group's committed position makes an identical second run a no-op."""
    settings = settings_factory(FAST, **{"claude.base_url": simulator.base_url})
    await publish(settings, [doc(f"d{i}", "[[sim:refusal]]") for i in range(5)])
    await run_worker_sdk(settings)

    first = await replay_once(settings)
    second = await replay_once(settings)

    assert (first.replayed, second.replayed, second.examined) == (5, 0, 0)
    assert len(await replayed_records(settings)) == 5


async def test_replayed_document_failing_again_lands_with_count_and_trace_link(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """Refused twice: the second DLQ record has replay count 1, replay.from, and the new
    process span links back to the failed trace."""
    settings = settings_factory(FAST, **{"claude.base_url": simulator.base_url})
    await publish(settings, [doc("again", "[[sim:refusal]]")])
    with install_in_memory() as otel:
        await run_worker_sdk(settings)
        (first,) = await read_all(settings, settings.kafka.topics.dlq)
        summary = await replay_once(settings)
        await run_worker_sdk(settings)
        spans = [s for s in otel.spans() if s.name == f"process {settings.kafka.topics.input}"]

    dlq = await read_all(settings, settings.kafka.topics.dlq)
    second = next(r for r in dlq if r.offset != first.offset or r.partition != first.partition)
    assert summary.replayed == 1 and len(dlq) == 2
    assert header(first, REPLAY_COUNT_HEADER) == "0"
    assert header(second, REPLAY_COUNT_HEADER) == "1"
    assert header(second, REPLAY_FROM_HEADER) == (f"{first.topic}/{first.partition}/{first.offset}")
    assert header(second, "docstream.error.class") == "refusal"
    failed = header(first, "traceparent")
    assert failed is not None
    (replayed,) = await replayed_records(settings)
    assert header(replayed, "docstream.replay.traceparent") == failed
    links = [
        link
        for span in spans
        for link in span.links
        if (link.attributes or {}).get("docstream.link") == "replayed_from"
    ]
    assert len(spans) == 2 and len(links) == 1
    assert f"{links[0].context.trace_id:032x}" == failed.split("-")[1]
    assert f"{links[0].context.span_id:016x}" == failed.split("-")[2]
