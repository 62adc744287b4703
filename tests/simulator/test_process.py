"""SimulatorProcess and ``docstream simulate``: a child process found by its printed URL."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from stream.cli.simulate_cmd import simulate
from stream.simulator import SimulatorConfig, SimulatorProcess, parse_schedule
from stream.simulator.process import config_args
from tests.simulator.helpers import ask, sdk

pytestmark = pytest.mark.timeout(60)


async def test_process_serves_the_sdk_and_admin_calls(simulator_process: SimulatorProcess) -> None:
    """The child answers the SDK; stats and faults work through its admin endpoints."""
    async with sdk(simulator_process.base_url) as client:
        message = await client.messages.create(**ask("from another process"))
        simulator_process.set_fault("error500")
        with pytest.raises(Exception, match="500"):
            await client.messages.create(**ask("now failing"))
        simulator_process.set_fault(None)
    stats = simulator_process.stats()
    assert message.stop_reason == "end_turn"
    assert stats["status_counts"] == {"200": 1, "500": 1}
    assert stats["fault"] is None


def test_process_stop_sends_sigterm_and_the_child_exits_cleanly(
    simulator_process_factory: Callable[..., SimulatorProcess],
) -> None:
    """stop() ends the child with SIGTERM and it exits 0 (not killed)."""
    process = simulator_process_factory(rpm=100)
    assert process.stats()["limits"]["rpm"] == 100
    assert process.stop() == 0


def test_cli_prints_exactly_the_listening_line_first_and_exits_zero_on_sigint() -> None:
    """``python -m stream simulate --port 0`` prints the URL line, then stops on SIGINT."""
    child = subprocess.Popen(
        [sys.executable, "-m", "stream", "simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        assert int(line.rsplit(":", 1)[1]) > 0
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) == 0
        assert child.stdout.read() == ""
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_config_args_reproduce_every_config_field_in_the_cli() -> None:
    """config_args(config) parsed by the click command gives back the same values."""
    config = SimulatorConfig(
        port=0,
        rpm=3000,
        itpm=40_000,
        otpm=8_000,
        max_concurrency=64,
        base_latency_s=1.0,
        per_token_latency_s=0.001,
        jitter=0.2,
        out_min=5,
        out_max=50,
        error_rate=0.01,
        seed=42,
        schedule=parse_schedule("0:3000,30:rpm=1200,otpm=none"),
    )
    params = simulate.make_context("simulate", config_args(config)).params
    assert (params["rpm"], params["itpm"], params["otpm"]) == (3000, 40_000, 8_000)
    assert (params["max_concurrency"], params["latency"]) == (64, 1.0)
    assert (params["per_token_latency"], params["jitter"]) == (0.001, 0.2)
    assert (params["out_min"], params["out_max"]) == (5, 50)
    assert (params["error_rate"], params["seed"]) == (0.01, 42)
    assert parse_schedule(params["schedule"]) == config.schedule


@pytest.mark.parametrize(
    "args",
    [
        ["--schedule", "10:warp=9"],
        ["--jitter", "3"],
        ["--out-min", "9", "--out-max", "2"],
        ["--rpm", "-5"],
        ["--rpm", "0"],
        ["--otpm", "0"],
        ["--max-concurrency", "-1"],
        ["--latency", "inf"],
        ["--per-token-latency", "nan"],
        ["--latency", "-1"],
        ["--schedule", "inf:3000"],
    ],
)
def test_cli_rejects_bad_flags_with_exit_code_2(args: list[str]) -> None:
    """A bad flag value stops the command with one docstream: line and exit code 2."""
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 2
    assert result.output.startswith("docstream: ")


def test_process_that_cannot_start_raises_with_its_first_line() -> None:
    """A child that exits before listening is reported, not waited on forever."""
    bad = SimulatorProcess(SimulatorConfig(host="256.0.0.1"), startup_timeout_s=20)
    with pytest.raises(RuntimeError, match="did not start"):
        bad.start()
