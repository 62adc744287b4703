"""Smoke test of ``docstream bench client-cpu``: real calls to the simulator, counted."""

from __future__ import annotations

import json

from click.testing import CliRunner

from stream.cli.main import cli


def test_client_cpu_makes_every_call_and_reports_cpu_per_call() -> None:
    """A few real calls through the worker's client: every call answered, CPU counted
    and divided by the calls (never compared to a bound)."""
    args = ["bench", "client-cpu", "--calls", "6", "--concurrency", "3", "--latency-s", "0.01"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert (figures["calls"], figures["concurrency"]) == (6, 3)
    assert figures["cpu_s"] > 0
    assert figures["ms_per_call"] == 1000 * figures["cpu_s"] / 6
