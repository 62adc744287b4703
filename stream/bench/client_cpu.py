"""``docstream bench client-cpu``: the CPU one Claude call costs the worker, alone.

``bench job`` splits a job's CPU by process; inside the worker, the Claude call itself
(our ``AnthropicClaudeClient``, the Anthropic SDK and its HTTP stack) is the largest
part. This measures just that: N calls (``--calls``, default 500) through the same
client ``docstream run`` builds, ``--concurrency`` at a time (default 50, about what a
1 s latency at 3000 RPM keeps in flight), against the simulator in its own process
(``--latency-s`` answers, no rate limit). CPU = user + system time of this process
over the calls (after one warm-up call), per call. No Kafka, no pipeline, no pacing.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass

import click

from stream.bench.cpu import self_cpu_s
from stream.claude import CallRequest
from stream.claude.factory import make_client
from stream.cli.common import CliState, pass_state
from stream.config import load_settings
from stream.errors import DocstreamError
from stream.simulator import SimulatorConfig, SimulatorProcess

__all__ = ["ClientCpu", "command", "measure_client_cpu"]

_TEXT = "lorem ipsum dolor sit amet " * 40  # about 1 KB, like the job's documents


@dataclass(frozen=True, slots=True)
class ClientCpu:
    calls: int
    concurrency: int
    latency_s: float
    wall_s: float
    cpu_s: float

    @property
    def ms_per_call(self) -> float:
        return 1000.0 * self.cpu_s / self.calls


def _request(index: int) -> CallRequest:
    return CallRequest(
        model="claude-sonnet-4-6",
        system="Summarize the document.",
        user=_TEXT,
        max_tokens=200,
        document_id=f"doc-{index}",
    )


async def _calls(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    settings = load_settings(None, {"claude.base_url": base_url, "claude.api_key": "sim-key"})
    client = make_client(settings, pool_size=settings.limits.max_concurrency)
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with slots:
            result = await client.call(_request(index))
        if not result.ok:
            raise DocstreamError(f"call {index} failed: {result.outcome.value}")

    try:
        await one(-1)  # the connection pool and the SDK's lazy parts, outside the figure
        wall, cpu = time.monotonic(), self_cpu_s()
        await asyncio.gather(*(one(i) for i in range(calls)))
        return time.monotonic() - wall, self_cpu_s() - cpu
    finally:
        await client.aclose()


def measure_client_cpu(calls: int, concurrency: int, latency_s: float) -> ClientCpu:
    with SimulatorProcess(SimulatorConfig(base_latency_s=latency_s)) as sim:
        wall, cpu = asyncio.run(_calls(sim.base_url, calls, concurrency))
    return ClientCpu(calls, concurrency, latency_s, round(wall, 3), round(cpu, 3))


@click.command("client-cpu")
@click.option("--calls", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--latency-s", default=1.0, show_default=True, type=click.FloatRange(0, 60, max_open=True)
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_state
def command(state: CliState, calls: int, concurrency: int, latency_s: float, as_json: bool) -> None:
    """CPU per Claude call of the worker's client alone (SDK and HTTP, no Kafka)."""
    del state
    figures = measure_client_cpu(calls, concurrency, latency_s)
    if as_json:
        click.echo(json.dumps({**asdict(figures), "ms_per_call": figures.ms_per_call}))
        return
    click.echo(
        f"client-cpu: {figures.calls} calls, {figures.concurrency} at a time, "
        f"{figures.latency_s:g} s answers: {figures.wall_s:.2f} s, CPU {figures.cpu_s:.2f} s "
        f"= {figures.ms_per_call:.2f} ms per call"
    )
