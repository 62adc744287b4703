"""Dedup against the embedded broker and the simulator: a document identical (for the
pipeline) to one processed within the horizon gets the stored outputs, no call; the
store survives the worker (it is read back from the compacted topic)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stream.simulator import SimulatorServer
from tests.dlq.helpers import FAST, doc, publish, read_all, run_worker_sdk
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka

TEXT = "the same quarterly report, sent twice"


async def _results(settings: Any) -> dict[str, dict[str, Any]]:
    records = await read_all(settings, settings.kafka.topics.results)
    return {r.key.decode(): json.loads(r.value or b"") for r in records if r.key}


async def test_duplicate_gets_the_stored_outputs_from_a_new_worker_without_calls(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """a is processed and stored; a later worker reads the store and answers b (same text)
    from it: duplicate_of a, every stage reused, cost 0, no request to the simulator."""
    settings = settings_factory(
        FAST, **{"claude.base_url": simulator.base_url, "processing.dedup": True}
    )
    await publish(settings, [doc("a", TEXT)])
    await run_worker_sdk(settings)
    calls = simulator.stats()["requests_total"]
    await publish(settings, [doc("b", TEXT), doc("c", TEXT + " (revised)")])
    await run_worker_sdk(settings)

    results = await _results(settings)
    assert results["b"]["duplicate_of"] == "a"
    assert results["b"]["reused_stages"] == sorted(results["a"]["outputs"])
    assert results["b"]["cost_usd"] == 0 and results["b"]["attempts"] == 0
    assert {n: o["text"] for n, o in results["b"]["outputs"].items()} == {
        n: o["text"] for n, o in results["a"]["outputs"].items()
    }
    assert results["c"]["duplicate_of"] is None  # other content: a miss, called
    assert simulator.stats()["requests_total"] - calls == len(results["c"]["outputs"])


async def test_entry_past_the_horizon_is_processed_again(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """With a horizon shorter than the gap between the two, the duplicate is called."""
    settings = settings_factory(
        FAST,
        **{
            "claude.base_url": simulator.base_url,
            "processing.dedup": True,
            "processing.dedup_horizon_s": 0.001,
        },
    )
    await publish(settings, [doc("a", TEXT)])
    await run_worker_sdk(settings)
    await publish(settings, [doc("b", TEXT)])
    await run_worker_sdk(settings)

    results = await _results(settings)
    assert results["b"]["duplicate_of"] is None
    assert results["b"]["cost_usd"] > 0


async def test_dedup_off_calls_every_document(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """The default: no store, identical documents are each called."""
    settings = settings_factory(FAST, **{"claude.base_url": simulator.base_url})
    await publish(settings, [doc("a", TEXT)])
    await run_worker_sdk(settings)
    await publish(settings, [doc("b", TEXT)])
    await run_worker_sdk(settings)
    assert (await _results(settings))["b"]["duplicate_of"] is None
