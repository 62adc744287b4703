"""``docstream bench latency``: the short path, publish -> result, on an idle worker.

One worker (its own process, the no-network Claude stand-in ``InstantClaudeClient``)
is assigned and idle; a separate reader tails the results and DLQ topics. Documents are
published one at a time, each after the previous one's result was read back, so every
document meets an idle worker. For each: publish start -> acknowledged by the broker ->
result seen by the reader. Printed: p50, p90, p99 and max of both, against the issue's
target (p50 <= 20 ms).

What it includes: our producer's send and the broker's acknowledgement, the worker's
fetch, decode, pipeline, the stand-in, the result's produce (acks=all), and the
reader's fetch. So it also shows the brokers' and the clients' waiting settings:
on the embedded broker a fetch that finds nothing waits its ``fetch_max_wait_ms`` in
full, whatever arrives meanwhile (see the README).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from stream.bench.job import bench_overrides, tail_outputs
from stream.bench.overhead import make_documents
from stream.bench.scenario_books import Coord
from stream.bench.scenario_runner import Variant, variant_settings
from stream.bench.scenarios import SCENARIOS
from stream.bench.worker_procs import start_worker, stop_workers, wait_settled
from stream.cli.common import CliState, build_settings, fail, pass_state
from stream.config import Settings
from stream.embedded import EmbeddedBroker
from stream.errors import DocstreamError
from stream.kafka.admin import ensure_topics
from stream.kafka.producer import KafkaSink, OutRecord

__all__ = ["LatencyFigures", "command", "percentile", "run_latency"]

_TARGET_P50_MS = 20.0
_WAIT_S = 30.0  # one document not back after this long fails the run


@dataclass(frozen=True, slots=True)
class LatencyFigures:
    documents: int
    result_ms: dict[str, float]  # p50, p90, p99, max of publish start -> result read back
    ack_ms: dict[str, float]  # the same for publish start -> broker acknowledgement


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        name: round(1000.0 * percentile(values, q), 2)
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
    }


async def run_latency(base: Settings, documents: int, out_dir: Path) -> LatencyFigures:
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    settings = variant_settings(base, SCENARIOS["steady"], Variant("aimd"), "http://127.0.0.1:9")
    await ensure_topics(settings.kafka)
    proc = await start_worker(settings, out_dir / "worker-0.jsonl", instant=True)
    try:
        await wait_settled([out_dir / "worker-0.jsonl"], settings.kafka.topics.partitions)
        seen: dict[Coord, float] = {}
        async with tail_outputs(settings, seen), KafkaSink(settings.kafka) as sink:
            acks, results = await _one_by_one(settings, sink, seen, documents)
    finally:
        await stop_workers([proc])
    figures = LatencyFigures(documents, _summary(results), _summary(acks))
    await asyncio.to_thread(
        (out_dir / "latency.json").write_text, json.dumps(asdict(figures), indent=2) + "\n"
    )
    return figures


async def _one_by_one(
    settings: Settings, sink: KafkaSink, seen: dict[Coord, float], documents: int
) -> tuple[list[float], list[float]]:
    acks: list[float] = []
    results: list[float] = []
    for doc in make_documents(documents):
        start = time.time()
        futures = await sink.send_many(
            settings.kafka.topics.input, [OutRecord(doc.value, doc.key, [])]
        )
        (batch,) = await asyncio.gather(*futures)
        acks.append(time.time() - start)
        coord = (batch.partition, batch.base_offset)
        deadline = time.monotonic() + _WAIT_S
        while coord not in seen:
            if time.monotonic() > deadline:
                raise DocstreamError(f"no result for {coord} after {_WAIT_S:g} s")
            await asyncio.sleep(0.0005)
        results.append(seen[coord] - start)
    return acks, results


def format_latency(f: LatencyFigures) -> str:
    r, a = f.result_ms, f.ack_ms
    verdict = "PASS" if r["p50"] <= _TARGET_P50_MS else "MISS"
    return "\n".join(
        [
            f"latency: {f.documents} documents one at a time, idle worker, instant stand-in",
            f"  publish -> result read back: p50 {r['p50']:.1f} ms (target <= "
            f"{_TARGET_P50_MS:g}: {verdict}), p90 {r['p90']:.1f}, p99 {r['p99']:.1f}, "
            f"max {r['max']:.1f} ms",
            f"  publish -> broker ack:       p50 {a['p50']:.1f} ms, p90 {a['p90']:.1f}, "
            f"p99 {a['p99']:.1f}, max {a['max']:.1f} ms",
        ]
    )


@click.command("latency")
@click.option("--documents", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--partitions", default=6, show_default=True, type=click.IntRange(min=1))
@click.option("--bootstrap", default=None, help="Use this Kafka cluster, not the embedded.")
@click.option(
    "--out",
    "out_dir",
    default=Path("bench-out"),
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_state
def command(
    state: CliState,
    documents: int,
    partitions: int,
    bootstrap: str | None,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Publish -> result latency (p50/p99) on an idle worker with the instant stand-in."""
    broker = EmbeddedBroker() if bootstrap is None else None
    try:
        address = broker.start() if broker is not None else str(bootstrap)
        base = build_settings(state, bench_overrides(address, broker is not None, partitions))
        figures = asyncio.run(run_latency(base, documents, out_dir / "latency"))
    except DocstreamError as exc:
        fail(str(exc), code=1)
    finally:
        if broker is not None:
            broker.stop()
    click.echo(json.dumps(asdict(figures), indent=2) if as_json else format_latency(figures))
