"""``docstream simulate``: run the Messages API simulator until SIGINT/SIGTERM.

Prints exactly one line first — ``simulator listening on http://HOST:PORT`` — so a parent
process (``SimulatorProcess``, the demo) can find the port when ``--port 0`` was asked.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from stream.cli.common import fail
from stream.simulator.config import SimulatorConfig, parse_schedule
from stream.simulator.server import SimulatorServer

__all__ = ["simulate"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, show_default=True, help="0 = any free port.")
@click.option("--rpm", type=int, help="Requests per minute (default unlimited).")
@click.option("--itpm", type=int, help="Input tokens per minute (default unlimited).")
@click.option("--otpm", type=int, help="Output tokens per minute (default unlimited).")
@click.option("--max-concurrency", type=int, help="529 overloaded beyond this many in flight.")
@click.option("--latency", default=0.05, show_default=True, help="Base latency, seconds.")
@click.option("--per-token-latency", default=0.0002, show_default=True, help="Seconds/token.")
@click.option("--jitter", default=0.1, show_default=True, help="± fraction of the latency.")
@click.option("--out-min", default=20, show_default=True, help="Fewest output tokens.")
@click.option("--out-max", default=200, show_default=True, help="Most output tokens.")
@click.option("--error-rate", default=0.0, show_default=True, help="Share of random 500s.")
@click.option(
    "--bucket-s",
    default=60.0,
    show_default=True,
    help="Seconds of allowance a rate-limit bucket holds (1 = a per-minute limit enforced "
    "per second).",
)
@click.option("--schedule", default="", help='Limit changes, e.g. "0:3000,30:1200,60:3000".')
@click.option("--seed", default=0, show_default=True, help="Seeds jitter/errors/fault rates.")
def simulate(
    host: str,
    port: int,
    rpm: int | None,
    itpm: int | None,
    otpm: int | None,
    max_concurrency: int | None,
    latency: float,
    per_token_latency: float,
    jitter: float,
    out_min: int,
    out_max: int,
    error_rate: float,
    bucket_s: float,
    schedule: str,
    seed: int,
) -> None:
    """Run a local Anthropic Messages API simulator (point base_url at it)."""
    try:
        config = SimulatorConfig(
            host=host,
            port=port,
            rpm=rpm,
            itpm=itpm,
            otpm=otpm,
            max_concurrency=max_concurrency,
            base_latency_s=latency,
            per_token_latency_s=per_token_latency,
            jitter=jitter,
            out_min=out_min,
            out_max=out_max,
            error_rate=error_rate,
            bucket_s=bucket_s,
            seed=seed,
            schedule=parse_schedule(schedule),
        )
    except ValueError as exc:
        fail(str(exc))
    try:
        asyncio.run(_serve(config))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc}", code=1)


async def _serve(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(config) as server:
        click.echo(f"simulator listening on {server.base_url}")
        sys.stdout.flush()
        await stop.wait()
