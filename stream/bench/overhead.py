"""``docstream bench overhead``: what the pipeline costs when Claude costs nothing.

One worker process, ``InstantClaudeClient`` at the Claude seam (no network, no model
time), a real Kafka-compatible broker (the embedded Tansu unless ``--bootstrap``):
documents/s, CPU microseconds per document and peak RSS, each with its ratio to the
targets of design.md section 8 (>= 1,500 documents/s; <= 300 MB RSS with a
200,000-document backlog).

Steps: start the broker, create fresh topics, publish every document first (record
batches via ``KafkaSink.send_many``), then start ONE worker as a separate process
(``stream.bench.overhead_worker``) so the publisher's memory and CPU never pollute the
figures; it measures itself from its first dispatched record to its last completed one.
Finally the results and DLQ topics are read back and joined to the published offsets:
every input offset must have produced exactly one output. A run that lost or duplicated
documents says so loudly and exits 1, whatever its speed.

``--backlog N`` is memory mode: N documents wait on the topic before the worker starts,
and it processes all of them; backpressure (``processing.buffer_size``) must keep RSS
flat however long the backlog is (the RSS-by-progress line shows it).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from stream.bench.overhead_report import (
    TARGET_DOCS_PER_S,
    TARGET_RSS_MB,
    Accounting,
    OverheadReport,
    format_report,
    report_json,
)
from stream.bench.overhead_worker import WorkerMeasurement
from stream.cli.common import CliState, build_settings, fail, pass_state
from stream.config import Settings
from stream.embedded import EmbeddedBroker, reaper
from stream.errors import DocstreamError
from stream.kafka.admin import ensure_topics
from stream.kafka.group import committed_offsets
from stream.kafka.producer import KafkaSink, OutRecord
from stream.kafka.reader import read_topic
from stream.models import HEADER_PREFIX

__all__ = [
    "TARGET_DOCS_PER_S",
    "TARGET_RSS_MB",
    "Accounting",
    "OverheadReport",
    "account",
    "command",
    "make_documents",
    "publish_documents",
    "run_overhead",
    "settings_payload",
    "spawn_worker",
]

Coord = tuple[int, int]  # (partition, offset) on the input topic

_PARAGRAPHS = [
    f"Shift report {n}: the night crew checked pump {n % 7} and valve bank {n % 5}. "
    "Pressure stayed within limits, one alarm was acknowledged and cleared, and the "
    "handover notes list the spare parts that still have to be ordered this week. "
    for n in range(64)
]


def make_documents(count: int, *, text_bytes: int = 1000) -> Iterator[OutRecord]:
    """Deterministic documents of about ``text_bytes`` of text, keyed by id."""
    for i in range(count):
        doc_id = f"bench-{i:07d}"
        body = f"Document {i}. "
        while len(body) < text_bytes:
            body += _PARAGRAPHS[(i + len(body)) % len(_PARAGRAPHS)]
        value = {"id": doc_id, "text": body[:text_bytes], "metadata": {"n": i, "source": "bench"}}
        yield OutRecord(json.dumps(value).encode("utf-8"), doc_id.encode("ascii"), [])


async def publish_documents(
    settings: Settings, count: int, *, text_bytes: int = 1000
) -> tuple[set[Coord], float]:
    """Create the topics and publish ``count`` documents; (their offsets, seconds)."""
    await ensure_topics(settings.kafka)
    async with KafkaSink(settings.kafka) as sink:
        started = time.perf_counter()
        futures = await sink.send_many(
            settings.kafka.topics.input, make_documents(count, text_bytes=text_bytes)
        )
        batches = await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    coords = {
        (b.partition, offset)
        for b in batches
        for offset in range(b.base_offset, b.base_offset + b.count)
    }
    return coords, elapsed


def settings_payload(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON data with secrets revealed, for the worker's stdin only.

    The worker id is left out so the worker process names itself (host-pid).
    """
    data = _plain(settings.model_dump(mode="python"))
    assert isinstance(data, dict)
    data["processing"].pop("worker_id", None)
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # Path, Decimal


async def spawn_worker(
    settings: Settings,
    *,
    expected: int,
    pipeline: str | None,
    idle_timeout_s: float = 30.0,
    cprofile: Path | None = None,
) -> WorkerMeasurement:
    """Run ``stream.bench.overhead_worker`` as a child process; return what it measured."""
    args = [sys.executable, "-m", "stream.bench.overhead_worker", "--expect", str(expected)]
    args += ["--idle-timeout", str(idle_timeout_s)]
    if pipeline is not None:
        args += ["--pipeline", pipeline]
    if cprofile is not None:
        args += ["--cprofile", str(cprofile)]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=reaper.child_preexec(),  # the worker dies with us
    )
    payload = json.dumps(settings_payload(settings)).encode("utf-8")
    try:
        out, _ = await proc.communicate(payload)
    except BaseException:  # interrupted: never leave a worker behind
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    lines = out.decode("utf-8", errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise DocstreamError(f"the benchmark worker exited with code {proc.returncode}")
    data = json.loads(lines[-1])
    data["rss_by_progress"] = [tuple(p) for p in data["rss_by_progress"]]
    return WorkerMeasurement(**data)


async def account(settings: Settings, coords: set[Coord]) -> Accounting:
    """Join the results and DLQ topics back to the published offsets."""
    kafka = settings.kafka
    seen, results, dead, ids = await _read_outputs(settings)
    ends: dict[int, int] = {}
    for partition, offset in coords:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    committed = await committed_offsets(kafka, kafka.group_id, kafka.topics.input)
    return Accounting(
        inputs=len(coords),
        results=results,
        dead_letters=dead,
        missing=sum(1 for c in coords if c not in seen),
        duplicated=sum(1 for c, n in seen.items() if n > 1 and c in coords),
        unexpected=sum(n for c, n in seen.items() if c not in coords),
        distinct_ids=len(ids),
        committed_to_end=all(committed.get(p) == end for p, end in ends.items()),
    )


async def _read_outputs(settings: Settings) -> tuple[dict[Coord, int], int, int, set[str]]:
    """(outputs per input offset, results, dead letters, distinct result document ids)."""
    kafka = settings.kafka
    seen: dict[Coord, int] = {}
    results = dead = 0
    ids: set[str] = set()
    async for record in read_topic(kafka, kafka.topics.results):
        value = json.loads(record.value or b"{}")
        source = value["source"]
        coord = (int(source["partition"]), int(source["offset"]))
        seen[coord] = seen.get(coord, 0) + 1
        ids.add(value["document_id"])
        results += 1
    async for record in read_topic(kafka, kafka.topics.dlq):
        headers = {k: v.decode() for k, v in record.headers}
        coord = (
            int(headers.get(HEADER_PREFIX + "original.partition", "-1")),
            int(headers.get(HEADER_PREFIX + "original.offset", "-1")),
        )
        seen[coord] = seen.get(coord, 0) + 1
        dead += 1
    return seen, results, dead, ids


async def run_overhead(
    settings: Settings,
    *,
    documents: int,
    pipeline: str = "summarize",
    text_bytes: int = 1000,
    mode: str = "throughput",
    broker_pid: int | None = None,
    cprofile: Path | None = None,
    idle_timeout_s: float = 30.0,
) -> OverheadReport:
    """Publish, run one measured worker process, verify: the whole benchmark.

    ``idle_timeout_s``: how long the worker may make no progress (or take to shut down
    after the last document) before it is declared stalled and cancelled.
    """
    coords, publish_s = await publish_documents(settings, documents, text_bytes=text_bytes)
    cpu_before = _process_cpu_s(broker_pid)
    worker = await spawn_worker(
        settings,
        expected=documents,
        pipeline=pipeline,
        idle_timeout_s=idle_timeout_s,
        cprofile=cprofile,
    )
    cpu_after = _process_cpu_s(broker_pid)
    books = await account(settings, coords)
    broker_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return OverheadReport(
        mode=mode,
        pipeline=pipeline,
        partitions=settings.kafka.topics.partitions,
        documents=documents,
        text_bytes=text_bytes,
        broker="embedded" if broker_pid is not None else settings.kafka.bootstrap_servers,
        publish_s=publish_s,
        worker=worker,
        accounting=books,
        broker_cpu_s=broker_cpu,
    )


def _process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of another process, from /proc (None if unavailable)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _bench_overrides(bootstrap: str, profile: str, partitions: int) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "kafka.bootstrap_servers": bootstrap,
        "kafka.profile": profile,
        "kafka.group_id": f"bench-overhead-{suffix}",
        "kafka.topics.input": f"bench-overhead-{suffix}",
        "kafka.topics.results": f"bench-overhead-{suffix}.results",
        "kafka.topics.dlq": f"bench-overhead-{suffix}.dlq",
        "kafka.topics.partitions": partitions,
    }
    if profile == "embedded":  # Tansu's group join waits half the session timeout
        values["kafka.session_timeout_ms"] = 2000
        values["kafka.heartbeat_interval_ms"] = 500
    return values


@click.command()
@click.option(
    "--documents",
    default=20_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Documents to publish and process (throughput mode).",
)
@click.option(
    "--backlog",
    type=click.IntRange(min=1),
    default=None,
    help="Memory mode: N documents wait before the worker starts; all are processed.",
)
@click.option("--partitions", default=4, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--pipeline", type=click.Choice(["summarize", "triage"]), default="summarize", show_default=True
)
@click.option(
    "--text-bytes",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Document text size.",
)
@click.option(
    "--bootstrap",
    default=None,
    help="Use this Kafka cluster instead of starting the embedded broker.",
)
@click.option(
    "--broker-profile",
    type=click.Choice(["kafka", "embedded"]),
    default=None,
    help="With --bootstrap: 'embedded' if it is a Tansu broker (default: kafka).",
)
@click.option(
    "--cprofile",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Profile the worker with cProfile, write pstats to FILE, print hot spots.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def command(
    state: CliState,
    documents: int,
    backlog: int | None,
    partitions: int,
    pipeline: str,
    text_bytes: int,
    bootstrap: str | None,
    broker_profile: str | None,
    cprofile: Path | None,
    as_json: bool,
) -> None:
    """Pipeline overhead: documents/s, CPU us/document and peak RSS of one worker."""
    count = backlog or documents
    mode = "memory" if backlog else "throughput"
    broker = EmbeddedBroker() if bootstrap is None else None
    try:
        address = broker.start() if broker is not None else str(bootstrap)
        profile = "embedded" if broker is not None else (broker_profile or "kafka")
        settings = build_settings(state, _bench_overrides(address, profile, partitions))
        report = asyncio.run(
            run_overhead(
                settings,
                documents=count,
                pipeline=pipeline,
                text_bytes=text_bytes,
                mode=mode,
                broker_pid=broker.pid if broker is not None else None,
                cprofile=cprofile,
            )
        )
    except DocstreamError as exc:
        fail(str(exc), code=1)
    finally:
        if broker is not None:
            broker.stop()
    if as_json:
        click.echo(json.dumps(report_json(report, cprofile), indent=2))
    else:
        click.echo(format_report(report, cprofile))
    if not report.accounting.ok or report.worker.stalled or report.worker.stalled_at_shutdown:
        raise SystemExit(1)
