"""``docstream bench ...``: benchmarks that print measured figures and the ratio to the ideal."""

from __future__ import annotations

import click

from stream.cli.lazy import LazyGroup

__all__ = ["bench"]

_SCENARIOS = {
    "simulator": "stream.bench.simulator_ceiling:command",
    "publish": "stream.bench.publish:command",
    "overhead": "stream.bench.overhead:command",
    "steady": "stream.bench.scenarios:steady",
    "tight": "stream.bench.scenarios:tight",
    "shift": "stream.bench.scenarios:shift",
    "overload": "stream.bench.scenarios:overload",
    "flaky": "stream.bench.scenarios:flaky",
    "multi-worker": "stream.bench.scenarios:multi_worker",
    "job": "stream.bench.job_cmd:command",
    "latency": "stream.bench.latency:command",
    "coldstart": "stream.bench.coldstart:command",
    "client-cpu": "stream.bench.client_cpu:command",
    "cost": "stream.bench.cost_cmd:command",
    "sanitize": "stream.bench.sanitize:command",
}


@click.group(cls=LazyGroup, lazy=_SCENARIOS)
def bench() -> None:
    """Benchmarks: each prints what it measured and its ratio to the ideal."""
