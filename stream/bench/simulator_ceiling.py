"""``docstream bench simulator``: how many requests/s the simulator itself can answer.

Every other benchmark trusts the simulator not to be the bottleneck, so this one checks
it: the simulator runs in its own process with zero latency and no limits, and separate
load-generator processes drive it over raw keep-alive HTTP/1.1 connections (asyncio
streams, pre-built request bytes — far cheaper per request than the SDK, so the
generator is not what is measured). All generators start their measurement window at
the same wall-clock moment, after a warm-up. The target is 1,500 requests/s, the
pipeline-overhead goal of design section 8.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import click

from stream.simulator import SimulatorConfig, SimulatorProcess

__all__ = ["LoadResult", "command", "drive"]

TARGET_RPS = 1500
_MODEL = "claude-haiku-4-5"
_SYSTEM = "You summarise documents for an operations team. Be brief and factual."


@dataclass(slots=True)
class LoadResult:
    """What one load process measured inside the shared window."""

    completed: int = 0
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


def _requests(host: str, port: int, stream: bool, variants: int = 64) -> list[bytes]:
    """Pre-built requests: a ~1 KB document each, as the pipeline would send."""
    out = []
    for i in range(variants):
        document = f"Document {i}. " + ("Kafka carries the record to the worker. " * 24)
        body = json.dumps(
            {
                "model": _MODEL,
                "max_tokens": 1024,
                "system": _SYSTEM,
                "stream": stream,
                "messages": [{"role": "user", "content": f"<document>{document}</document>"}],
            }
        ).encode()
        head = (
            f"POST /v1/messages HTTP/1.1\r\nhost: {host}:{port}\r\nx-api-key: sim\r\n"
            f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    at = lowered.find(b"content-length:")
    if at >= 0:
        end = lowered.find(b"\r\n", at)
        await reader.readexactly(int(lowered[at + 15 : end]))
        return status
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return status


async def _connection(
    host: str, port: int, requests: list[bytes], start: float, end: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = hash(id(reader)) % len(requests)
    try:
        while (sent := time.time()) < end:
            t0 = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status = await _read_response(reader)
            if sent >= start and time.time() <= end:
                result.completed += 1
                result.statuses[status] += 1
                result.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
                if status != 200:
                    result.errors += 1
            i += 1
    finally:
        writer.close()


async def _load(url: str, connections: int, start: float, end: float, stream: bool) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = _requests(host, port, stream)
    result = LoadResult()
    await asyncio.sleep(max(0.0, start - 0.5 - time.time()))  # connect just before warm-up ends
    tasks = [_connection(host, port, requests, start, end, result) for _ in range(connections)]
    await asyncio.gather(*tasks)
    return result


def drive(url: str, connections: int, start: float, end: float, stream: bool) -> LoadResult:
    """One load process: ``connections`` keep-alive connections until ``end`` (epoch s)."""
    return asyncio.run(_load(url, connections, start, end, stream))


def _cpu_seconds(pid: int) -> float | None:
    """User+system CPU of a process (Linux /proc), to report the server's cost per request."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@click.command()
@click.option("--seconds", default=10.0, show_default=True, help="Measurement window.")
@click.option("--warmup", default=2.0, show_default=True, help="Load before the window opens.")
@click.option("--processes", default=2, show_default=True, help="Load-generator processes.")
@click.option("--connections", default=64, show_default=True, help="Connections per process.")
@click.option("--stream", is_flag=True, help="Measure stream=true (SSE) answers instead.")
def command(seconds: float, warmup: float, processes: int, connections: int, stream: bool) -> None:
    """Measure the simulator's ceiling (zero latency, no limits) against 1,500 req/s."""
    config = SimulatorConfig(base_latency_s=0.0, per_token_latency_s=0.0, jitter=0.0)
    with SimulatorProcess(config) as sim:
        spawn = multiprocessing.get_context("spawn")
        start = time.time() + 1.5 + warmup  # time for the load processes to spawn
        end = start + seconds
        with spawn.Pool(processes) as pool:
            pending = pool.starmap_async(
                drive, [(sim.base_url, connections, start, end, stream)] * processes
            )
            time.sleep(max(0.0, start - time.time()))
            cpu_before = _cpu_seconds(sim.pid)
            results = pending.get()
            cpu_after = _cpu_seconds(sim.pid)
        served = sim.stats()["requests_total"]
    _report(results, seconds, processes, connections, stream, served, cpu_before, cpu_after)


def _report(
    results: list[LoadResult],
    seconds: float,
    processes: int,
    connections: int,
    stream: bool,
    served: int,
    cpu_before: float | None,
    cpu_after: float | None,
) -> None:
    completed = sum(r.completed for r in results)
    errors = sum(r.errors for r in results)
    statuses: Counter[int] = sum((r.statuses for r in results), Counter())
    latencies = [x for r in results for x in r.latencies_ms]
    rps = completed / seconds
    mode = "stream=true (SSE)" if stream else "non-streaming"
    click.echo(
        f"simulator ceiling: {processes} load processes x {connections} keep-alive connections, "
        f"{seconds:g} s window, {mode}, zero latency, no limits"
    )
    click.echo(f"  requests/s        {rps:,.0f}  ({completed:,} in the window)")
    click.echo(
        f"  latency p50/p99   {_percentile(latencies, 0.5):.2f} / "
        f"{_percentile(latencies, 0.99):.2f} ms"
    )
    click.echo(f"  errors            {errors} (statuses: {dict(statuses)})")
    if cpu_before is not None and cpu_after is not None and completed:
        busy = (cpu_after - cpu_before) / seconds
        per_request = (cpu_after - cpu_before) / completed * 1e6
        click.echo(f"  server CPU        {busy:.2f} cores busy, {per_request:.0f} us per request")
        click.echo(
            f"  one-core bound    ~{1e6 / per_request:,.0f} req/s if the server had a whole core"
        )
    click.echo(f"  server counted    {served:,} requests in total (incl. warm-up)")
    verdict = "PASS" if rps >= TARGET_RPS and errors == 0 else "FAIL"
    click.echo(
        f"  target            {TARGET_RPS:,} req/s -> ratio {rps / TARGET_RPS:.2f} ({verdict})"
    )
    if verdict == "FAIL":
        raise SystemExit(1)
