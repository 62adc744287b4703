"""The ceiling benchmark's load generator really speaks HTTP/1.1 to the simulator."""

from __future__ import annotations

import time

import pytest

from stream.bench.simulator_ceiling import drive
from stream.simulator import SimulatorProcess

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_load_generator_completes_requests_and_counts_every_one(
    simulator_process: SimulatorProcess, stream: bool
) -> None:
    """drive() parses Content-Length and chunked answers; it counts every answer the
    server sent except at most one per connection finishing after the window closed."""
    start = time.time()
    result = drive(simulator_process.base_url, 4, start, start + 0.5, stream)
    assert result.completed > 0 and result.errors == 0
    assert dict(result.statuses) == {200: result.completed}
    assert len(result.latencies_ms) == result.completed
    served = simulator_process.stats()["status_counts"]["200"]
    assert 0 <= served - result.completed <= 4
