"""GET /stats (totals, per-second timeline), admin reset/limits, random 500s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anthropic
import httpx2
import pytest

from stream.simulator import SimulatorServer
from tests.simulator.helpers import ManualClock, ask, sdk

pytestmark = pytest.mark.timeout(30)
Factory = Callable[..., Awaitable[SimulatorServer]]


async def _try(client: anthropic.AsyncAnthropic, text: str, **extra: object) -> int:
    try:
        await client.messages.create(**ask(text, **extra))  # type: ignore[arg-type]
    except anthropic.APIStatusError as exc:
        return exc.status_code
    return 200


async def test_stats_count_statuses_and_build_a_per_second_timeline(
    simulator_factory: Factory,
) -> None:
    """Totals per status, and a timeline row per second (empty seconds filled with zeros)."""
    clock = ManualClock()
    server = await simulator_factory(now=clock)
    assert server.stats()["first_request_s"] is None
    clock.advance(0.25)
    async with sdk(server.base_url) as client:
        ok = await client.messages.create(**ask("first"))
        clock.advance(2.5)
        statuses = [
            await _try(client, "[[sim:overloaded]]"),
            await _try(client, "[[sim:rate_limit]]"),
            await _try(client, "[[sim:error500]]"),
            await _try(client, "x", model="gpt-4o"),
        ]
    assert statuses == [529, 429, 500, 404]
    stats = server.stats()
    assert stats["requests_total"] == 5
    assert stats["first_request_s"] == 0.25  # the job benchmark's time to first call
    assert stats["status_counts"] == {"200": 1, "404": 1, "429": 1, "500": 1, "529": 1}
    assert stats["output_tokens"] == ok.usage.output_tokens
    rows = {row["t"]: row for row in stats["timeline"]}
    assert sorted(rows) == [0, 1, 2]
    assert (rows[0]["requests"], rows[0]["ok"], rows[0]["output_tokens"]) == (
        1,
        1,
        ok.usage.output_tokens,
    )
    assert rows[0]["inflight_max"] == 1
    assert all(value == 0 for key, value in rows[1].items() if key != "t")
    assert (rows[2]["requests"], rows[2]["429"], rows[2]["529"], rows[2]["5xx"]) == (4, 1, 1, 1)
    assert rows[2]["4xx"] == 1 and rows[2]["ok"] == 0


async def test_get_stats_over_http_reports_limits_and_fault(simulator: SimulatorServer) -> None:
    """/stats is JSON with the live limits, in-flight count and global fault."""
    simulator.configure(rpm=300, latency=0.0)
    simulator.set_fault("error500", rate=0.25)
    async with httpx2.AsyncClient(base_url=simulator.base_url) as http:
        stats = (await http.get("/stats")).json()
    assert stats["limits"]["rpm"] == 300 and stats["limits"]["itpm"] is None
    assert stats["fault"] == {"mode": "error500", "rate": 0.25}
    assert stats["inflight"] == 0 and stats["requests_total"] == 0
    assert stats["highest_concurrency"] == 0 and stats["timeline"] == []


async def test_admin_reset_clears_stats_counted_markers_and_buckets(
    simulator_factory: Factory,
) -> None:
    """POST /admin/reset: zero counts, *K markers fire again, buckets full; limits stay."""
    server = await simulator_factory(rpm=1, now=ManualClock())
    async with sdk(server.base_url) as client, httpx2.AsyncClient(base_url=server.base_url) as http:
        assert await _try(client, "[[sim:auth*1]]") == 401
        assert await _try(client, "[[sim:auth*1]]") == 200
        assert await _try(client, "next") == 429
        reset = await http.post("/admin/reset")
        assert reset.status_code == 200 and reset.json()["limits"]["rpm"] == 1
        assert server.stats()["requests_total"] == 0
        assert await _try(client, "[[sim:auth*1]]") == 401
        assert await _try(client, "[[sim:auth*1]]") == 200


@pytest.mark.parametrize(
    "payload",
    [{"rpm": -5}, {"rpm": 1.5}, {"warp": 9}, {"jitter": 3}, {"latency": None}, [1, 2]],
)
async def test_admin_limits_rejects_bad_values_with_400(
    simulator: SimulatorServer, payload: object
) -> None:
    """Invalid limit changes are refused and change nothing."""
    async with httpx2.AsyncClient(base_url=simulator.base_url) as http:
        response = await http.post("/admin/limits", json=payload)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert simulator.stats()["limits"]["rpm"] is None


async def test_error_rate_gives_seeded_random_500s(simulator_factory: Factory) -> None:
    """error_rate=0.5: both outcomes occur, and the same seed gives the same sequence."""
    sequences = []
    for _ in range(2):
        server = await simulator_factory(error_rate=0.5, seed=11)
        async with sdk(server.base_url) as client:
            sequences.append([await _try(client, f"doc {i}") for i in range(30)])
    assert sequences[0] == sequences[1]
    assert set(sequences[0]) == {200, 500}
