"""``docstream bench publish``: documents/s from a JSONL file to the input topic.

Measures the path ``docstream publish FILE`` takes: read lines, validate each as a
Document, key it, batch it, wait for acks=all. The documents (200-500 bytes of JSON,
seeded) are written to a temp file first, so generating them is not measured. Then the
topic is read back to check that every document arrived. Target: 20,000 docs/s.

On a shared two-core machine the wall-clock rate swings with whatever else runs, so it
also prints CPU microseconds per document for this process and for the broker: the
part of the figure that does not depend on the neighbours.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from stream.config import KafkaSettings, load_settings
from stream.embedded import EmbeddedBroker
from stream.publish import PublishSummary, open_source, publish_items

__all__ = ["TARGET_DOCS_PER_S", "command", "write_documents"]

TARGET_DOCS_PER_S = 20_000
_WORDS = [
    *("stream", "kafka", "record", "partition", "offset", "broker", "claude", "summary"),
    *("latency", "batch", "worker", "limit", "token", "trace", "result", "queue"),
    *("replay", "document", "consumer", "producer", "commit"),
]


def write_documents(path: Path, count: int, seed: int = 7) -> int:
    """Write ``count`` JSONL documents of 200-500 bytes; return the bytes written."""
    rng = random.Random(seed)
    written = 0
    with path.open("wb") as out:
        for i in range(count):
            target = rng.randint(200, 500)
            doc = {"id": f"doc-{i:08d}", "text": "", "metadata": {"source": "bench"}}
            base = len(json.dumps(doc))
            words: list[str] = []
            size = base
            while size < target:
                word = rng.choice(_WORDS)
                words.append(word)
                size += len(word) + 1
            doc["text"] = " ".join(words)
            line = json.dumps(doc).encode() + b"\n"
            out.write(line)
            written += len(line)
    return written


@dataclass(frozen=True, slots=True)
class _Measured:
    summary: PublishSummary
    arrived: int
    cpu_s: float  # this process (reading, validating, batching, compressing)
    broker_cpu_s: float | None  # the embedded broker process, when we started it


async def _run(kafka: KafkaSettings, path: Path, broker_pid: int | None) -> _Measured:
    from stream.kafka.admin import ensure_topics
    from stream.kafka.reader import read_topic

    await ensure_topics(kafka)
    cpu0, broker0 = time.process_time(), _cpu_seconds(broker_pid)
    summary = await publish_items(kafka, kafka.topics.input, open_source(path))
    cpu1, broker1 = time.process_time(), _cpu_seconds(broker_pid)
    arrived = 0
    async for _ in read_topic(kafka, kafka.topics.input):
        arrived += 1
    broker_cpu = broker1 - broker0 if broker0 is not None and broker1 is not None else None
    return _Measured(summary, arrived, cpu1 - cpu0, broker_cpu)


def _cpu_seconds(pid: int | None) -> float | None:
    """User+system CPU seconds of a process (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@click.command()
@click.option("--count", default=100_000, show_default=True, help="Documents to publish.")
@click.option("--bootstrap", default=None, help="Use this cluster instead of an embedded broker.")
@click.option(
    "--profile",
    type=click.Choice(["auto", "embedded", "kafka"]),
    default="auto",
    show_default=True,
    help="auto = embedded without --bootstrap, kafka with it.",
)
@click.option("--partitions", default=4, show_default=True, help="Partitions of the topic.")
def command(count: int, bootstrap: str | None, profile: str, partitions: int) -> None:
    """Publish COUNT generated documents and report docs/s against 20,000 docs/s."""
    suffix = uuid.uuid4().hex[:8]
    resolved: Literal["embedded", "kafka"] = (
        "kafka" if profile == "kafka" or (profile == "auto" and bootstrap) else "embedded"
    )
    with ExitStack() as stack:
        broker_pid = None
        if bootstrap is None:
            broker = stack.enter_context(EmbeddedBroker())
            bootstrap, broker_pid = broker.bootstrap_servers, broker.pid
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="docstream-bench-")))
        source = tmp / "documents.jsonl"
        size = write_documents(source, count)
        kafka = load_settings(
            None,
            {
                "kafka.bootstrap_servers": bootstrap,
                "kafka.profile": resolved,
                "kafka.topics.input": f"bench-publish-{suffix}",
                "kafka.topics.results": f"bench-publish-{suffix}.results",
                "kafka.topics.dlq": f"bench-publish-{suffix}.dlq",
                "kafka.topics.partitions": partitions,
            },
        ).kafka
        measured = asyncio.run(_run(kafka, source, broker_pid))
    _report(measured, count, size, kafka, bootstrap)


def _report(m: _Measured, count: int, size: int, kafka: KafkaSettings, where: str) -> None:
    s = m.summary
    ratio = s.docs_per_s / TARGET_DOCS_PER_S
    click.echo(
        f"publish: {count:,} JSONL documents ({size / 1e6:.1f} MB, "
        f"avg {size / max(count, 1):.0f} B) -> {where} ({kafka.profile} profile), "
        f"{kafka.topics.partitions} partitions, acks=all, compression {kafka.compression}"
    )
    click.echo(f"  {s.line()}")
    click.echo(f"  throughput   {s.docs_per_s:,.0f} docs/s, {s.bytes / 1e6 / s.seconds:.1f} MB/s")
    per_doc = m.cpu_s / max(s.sent, 1) * 1e6
    cpu = f"  CPU          publisher {per_doc:.1f} us/doc (one core: {1e6 / per_doc:,.0f} docs/s)"
    if m.broker_cpu_s is not None:
        cpu += f", broker {m.broker_cpu_s / max(s.sent, 1) * 1e6:.1f} us/doc"
    click.echo(cpu)
    click.echo(f"  read back    {m.arrived:,} of {s.sent:,} records on the topic")
    verdict = "PASS" if ratio >= 1 and m.arrived == s.sent == count else "FAIL"
    click.echo(f"  target       {TARGET_DOCS_PER_S:,} docs/s -> ratio {ratio:.2f} ({verdict})")
    if verdict == "FAIL":
        raise SystemExit(1)
