"""``docstream bench job SCENARIO``: the makespan of a whole job at the provider's limit.

A user runs *jobs*: a burst of documents lands on the topic and they wait for the last
result. So this benchmark measures what the steady-state scenarios leave out (their
window starts after a 10 s warm-up): the ramp, the tail and Kafka's own share.

1. The simulator runs in its own process with the scenario's limits and a request bucket
   of ``--bucket-s`` seconds (1 = a per-minute limit enforced per second; 60 = the whole
   minute), and the worker(s) start in their own processes (``scenario_worker``) on fresh
   topics. The benchmark waits until the group has settled (every partition assigned
   and no change for 2 s), so the job starts at a worker already assigned.
2. A separate reader (in this process, no group) tails the results and DLQ topics. The
   publisher's producer connects, the simulator is reset (fresh stats, full buckets)
   and then ``t0`` = the first publish: N documents go out at once.
3. The makespan ends when the reader has seen a result or DLQ record for every published
   offset. For ``shift`` the rpm drops to 1200 at 1/3 and returns at 2/3 of the ideal
   makespan, counted from ``t0``.
4. Then the workers get SIGTERM, both topics are read back and joined to the published
   offsets (lost / duplicated / unprocessed, as in the scenario books).

Ideal: ``job_ideal`` (the server's buckets admit N requests, starting full, plus one mean
latency; under the server's and the client's concurrency caps). Also printed: 429s and
529s over all requests the simulator saw, the time from ``t0`` to the first call that
reached the server, and per second the requests sent, admitted (not answered 429/529)
and the ideal's admissions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream.bench.cpu import CpuProbe, ProcessCpu
from stream.bench.job_ideal import IdealJob, ideal_job
from stream.bench.overhead import make_documents
from stream.bench.scenario_books import Coord, ScenarioAccounting, account_outputs
from stream.bench.scenario_runner import Scenario, Variant, variant_settings
from stream.bench.worker_procs import start_worker, stop_workers, wait_settled
from stream.config import Settings
from stream.errors import DocstreamError
from stream.kafka.admin import ensure_topics
from stream.kafka.producer import KafkaSink, OutRecord
from stream.kafka.reader import read_topic
from stream.models import HEADER_PREFIX
from stream.simulator import SimulatorConfig, SimulatorProcess

__all__ = [
    "JobFigures",
    "JobSpec",
    "bench_overrides",
    "job_ideal",
    "publish_job",
    "rpm_steps",
    "run_job",
    "tail_outputs",
]


@dataclass(frozen=True, slots=True)
class JobSpec:
    scenario: Scenario
    documents: int
    workers: int
    bucket_s: float
    algorithm: str = "aimd"
    timeout_s: float = 600.0
    jobs: int = 1  # on the same workers: the first cold, the others warm


@dataclass(slots=True)
class JobFigures:
    scenario: str
    job: int  # 1: cold (the workers' first calls); 2, 3, ...: warm, on the same workers
    algorithm: str
    workers: int
    documents: int
    bucket_s: float
    makespan_s: float
    ideal_s: float
    ratio: float
    first_call_s: float | None  # t0 -> the first request the simulator saw
    publish_s: float  # t0 -> every document acknowledged by the broker
    requests: int
    r429: int
    r529: int
    r5xx: int
    pct_429: float
    pct_529: float
    accounting: ScenarioAccounting
    worker_cpu_s: list[float] = field(default_factory=list)
    cpu: list[ProcessCpu] = field(default_factory=list)  # by process and phase
    timeline: list[dict[str, float]] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.accounting.lost

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def rpm_steps(scenario: Scenario, nominal_s: float) -> tuple[tuple[float, int], ...] | None:
    """The job's rpm over time from ``t0``; ``shift`` changes at its fractions of the
    nominal (unchanged) ideal makespan."""
    if scenario.rpm is None:
        return None
    steps = [(0.0, scenario.rpm)]
    steps += [(fraction * nominal_s, rpm) for fraction, rpm in scenario.changes]
    return tuple(steps)


def job_ideal(spec: JobSpec, client_cap: int) -> tuple[IdealJob, tuple[tuple[float, int], ...]]:
    """The ideal and the live rpm changes (seconds after t0, rpm) of ``spec``."""
    scenario = spec.scenario
    caps = [c for c in (scenario.max_concurrency, client_cap) if c is not None]
    latency = scenario.mean_latency_s(scenario.sim_config())

    def ideal(steps: tuple[tuple[float, int], ...] | None) -> IdealJob:
        return ideal_job(
            spec.documents,
            rpm_steps=steps,
            bucket_s=spec.bucket_s,
            cap=min(caps),
            latency_s=latency,
            error_rate=scenario.error_rate,
        )

    nominal = ideal(rpm_steps(replace_changes(scenario), 0.0))
    steps = rpm_steps(scenario, nominal.makespan_s)
    return ideal(steps), tuple((at, rpm) for at, rpm in (steps or ())[1:])


def replace_changes(scenario: Scenario) -> Scenario:
    return Scenario(
        scenario.name,
        scenario.title,
        scenario.rpm,
        scenario.max_concurrency,
        scenario.latency_s,
        scenario.per_token_latency_s,
        scenario.error_rate,
        scenario.workers,
    )


async def run_job(
    base: Settings, spec: JobSpec, out_dir: Path, *, broker_pid: int | None = None
) -> list[JobFigures]:
    """``spec.jobs`` jobs on the same workers, start to books (see the module
    docstring): the first is cold (the workers have made no call yet), the others warm
    (they have, and then idled ``_pause_s`` so a server's bucket would have refilled).
    ``broker_pid``: the embedded broker's process, whose CPU is then counted too."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    scenario = spec.scenario
    ideal, changes = job_ideal(spec, base.limits.max_concurrency * spec.workers)
    config = SimulatorConfig(
        rpm=scenario.rpm,
        max_concurrency=scenario.max_concurrency,
        base_latency_s=scenario.latency_s,
        per_token_latency_s=scenario.per_token_latency_s,
        error_rate=scenario.error_rate,
        bucket_s=spec.bucket_s,
    )
    runs: list[_Run] = []
    with SimulatorProcess(config) as sim:
        settings = variant_settings(base, scenario, Variant(spec.algorithm), sim.base_url)
        await ensure_topics(settings.kafka)
        paths = [out_dir / f"worker-{i}.jsonl" for i in range(spec.workers)]
        procs = [await start_worker(settings, path) for path in paths]
        probe = _probe(procs, sim.pid, broker_pid)
        try:
            await wait_settled(paths, settings.kafka.topics.partitions, probe.mark)
            seen: dict[Coord, float] = {}
            async with tail_outputs(settings, seen):
                for index in range(spec.jobs):
                    if index:
                        await asyncio.sleep(_pause_s(spec))
                        probe.mark(f"ready-{index}")
                    runs.append(await _one_job(sim, settings, spec, changes, seen, probe, index))
        finally:
            summaries = await stop_workers(procs)
    figures = []
    for index, run in enumerate(runs):
        others = set().union(*(r.coords for r in runs if r is not run))
        books = await account_outputs(settings, run.coords, others)
        figures.append(_figures(spec, ideal, run, books, index))
    worker_cpu_s = [float(s.get("cpu_s", 0.0)) for s in summaries]
    for index, fig in enumerate(figures):
        fig.worker_cpu_s = worker_cpu_s
        fig.cpu = _cpu_phases(probe, worker_cpu_s, index, last=index == len(figures) - 1)
    report = json.dumps([f.as_json() for f in figures], indent=2) + "\n"
    await asyncio.to_thread((out_dir / "job.json").write_text, report)
    return figures


@dataclass(frozen=True, slots=True)
class _Run:
    """What one job left to be turned into figures once the workers have stopped."""

    coords: set[Coord]
    stats: dict[str, Any]
    t0: float
    origin: float  # the simulator's timeline t = 0 (epoch s)
    end: float
    published: float


async def _one_job(
    sim: SimulatorProcess,
    settings: Settings,
    spec: JobSpec,
    changes: tuple[tuple[float, int], ...],
    seen: dict[Coord, float],
    probe: CpuProbe,
    index: int,
) -> _Run:
    # The publisher's producer connects before t0: a user's is up before their burst,
    # and its start (45-100 ms here) is not part of any document's way.
    async with KafkaSink(settings.kafka) as sink:
        origin = await asyncio.to_thread(_reset, sim)
        probe.mark(f"start-{index}")
        t0 = time.time()
        coords = await publish_job(sink, settings, spec.documents)
        published = time.time()
        async with _drive(sim, t0, changes):
            await _until_seen(seen, coords, spec.timeout_s)
        probe.mark(f"end-{index}")
    end = max(seen[c] for c in coords) if coords else t0
    stats = await asyncio.to_thread(sim.stats)
    return _Run(coords, stats, t0, origin, end, published)


def _pause_s(spec: JobSpec) -> float:
    """Idle time between two jobs: the server's bucket refills in ``bucket_s``."""
    return spec.bucket_s + 1.0


def _probe(
    procs: list[asyncio.subprocess.Process], sim_pid: int, broker_pid: int | None
) -> CpuProbe:
    pids: dict[str, int | None] = {f"worker-{i}": p.pid for i, p in enumerate(procs)}
    pids["simulator"] = sim_pid
    if broker_pid is not None:
        pids["broker"] = broker_pid
    pids["bench (publisher, reader)"] = None
    return CpuProbe(pids)


def _cpu_phases(
    probe: CpuProbe, worker_totals: list[float], index: int, *, last: bool
) -> list[ProcessCpu]:
    """Each process's CPU by phase for job ``index`` (its start-up: up to the group
    settling for the first job, up to the end of the pause before it for the others);
    after the last job a worker's shutdown = its own total - the job's end. (A worker
    that sent no summary is left without one.)"""
    ready = "ready" if index == 0 else f"ready-{index}"
    phases = probe.phases(ready, f"start-{index}", f"end-{index}")
    if not last:
        return phases
    at_end = probe.marks.get(f"end-{index}", {})
    for number, total in enumerate(worker_totals):
        name = f"worker-{number}"
        for row in phases:
            if row.name == name and name in at_end:
                row.after_s = max(0.0, total - at_end[name])
    return phases


def _figures(
    spec: JobSpec, ideal: IdealJob, run: _Run, books: ScenarioAccounting, index: int
) -> JobFigures:
    stats, t0, origin, end, published = run.stats, run.t0, run.origin, run.end, run.published
    rows = stats.get("timeline", [])
    requests = int(stats.get("requests_total", 0))
    r429, r529 = (sum(int(r[k]) for r in rows) for k in ("429", "529"))
    first = stats.get("first_request_s")
    offset = t0 - origin  # the simulator's second 0 starts this long before t0
    timeline = [
        {
            "t": float(r["t"]) - offset,
            "sent": float(r["requests"]),
            "admitted": float(r["requests"] - r["429"] - r["529"]),
            "ideal": ideal.admitted_per_s[i]
            if 0 <= (i := int(r["t"])) < len(ideal.admitted_per_s)
            else 0.0,
            "429": float(r["429"]),
            "529": float(r["529"]),
        }
        for r in rows
    ]
    makespan = end - t0
    return JobFigures(
        scenario=spec.scenario.name,
        job=index + 1,
        algorithm=spec.algorithm,
        workers=spec.workers,
        documents=spec.documents,
        bucket_s=spec.bucket_s,
        makespan_s=makespan,
        ideal_s=ideal.makespan_s,
        ratio=ideal.makespan_s / makespan if makespan > 0 else 0.0,
        first_call_s=None if first is None else origin + float(first) - t0,
        publish_s=published - t0,
        requests=requests,
        r429=r429,
        r529=r529,
        r5xx=sum(int(r["5xx"]) for r in rows),
        pct_429=100.0 * r429 / requests if requests else 0.0,
        pct_529=100.0 * r529 / requests if requests else 0.0,
        accounting=books,
        timeline=timeline,
    )


@contextlib.asynccontextmanager
async def tail_outputs(settings: Settings, seen: dict[Coord, float]) -> Any:
    """Tail the results and DLQ topics into ``seen`` (offset -> first seen, epoch s)."""
    kafka = settings.kafka
    ready = [asyncio.Event(), asyncio.Event()]
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(_follow(settings, kafka.topics.results, seen, ready[0], _of_result)),
            group.create_task(_follow(settings, kafka.topics.dlq, seen, ready[1], _of_dead)),
        ]
        await asyncio.gather(*(e.wait() for e in ready))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()


async def _follow(
    settings: Settings, topic: str, seen: dict[Coord, float], ready: asyncio.Event, key: Any
) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        async for record in read_topic(
            settings.kafka, topic, follow=True, poll_timeout_s=0.05, on_ready=ready.set
        ):
            seen.setdefault(key(record), time.time())


def _of_result(record: Any) -> Coord:
    source = json.loads(record.value or b"{}")["source"]
    return int(source["partition"]), int(source["offset"])


def _of_dead(record: Any) -> Coord:
    headers = {k: v.decode("utf-8", errors="replace") for k, v in record.headers}
    return (
        int(headers.get(HEADER_PREFIX + "original.partition", "-1")),
        int(headers.get(HEADER_PREFIX + "original.offset", "-1")),
    )


async def publish_job(sink: KafkaSink, settings: Settings, count: int) -> set[Coord]:
    """Publish ``count`` documents at once; their (partition, offset) once acknowledged."""
    records = (OutRecord(r.value, r.key, []) for r in make_documents(count))
    futures = await sink.send_many(settings.kafka.topics.input, records)
    batches = await asyncio.gather(*futures)
    return {
        (b.partition, o) for b in batches for o in range(b.base_offset, b.base_offset + b.count)
    }


async def _until_seen(seen: dict[Coord, float], coords: set[Coord], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not coords.issubset(seen.keys()):
        if time.monotonic() > deadline:
            missing = len(coords - seen.keys())
            raise DocstreamError(f"job not finished after {timeout_s:g} s ({missing} missing)")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _drive(sim: SimulatorProcess, t0: float, changes: tuple[tuple[float, int], ...]) -> Any:
    """Apply the live rpm changes at their times after t0 while the job runs."""

    async def apply() -> None:
        for at, rpm in changes:
            await asyncio.sleep(max(0.0, t0 + at - time.time()))
            await asyncio.to_thread(sim.configure, rpm=rpm)

    async with asyncio.TaskGroup() as group:
        task = group.create_task(apply())
        try:
            yield
        finally:
            task.cancel()


def _reset(sim: SimulatorProcess) -> float:
    """Fresh stats and full buckets; returns the timeline's t = 0 (epoch)."""
    before = time.time()
    sim.reset()
    return (before + time.time()) / 2


def bench_overrides(bootstrap: str, embedded: bool, partitions: int) -> dict[str, Any]:
    """Settings for a benchmark's broker (Tansu's group join waits half the session
    timeout, so the embedded profile gets a short one)."""
    values: dict[str, Any] = {
        "kafka.bootstrap_servers": bootstrap,
        "kafka.topics.partitions": partitions,
    }
    if embedded:
        # Tansu's group join waits half the session timeout, so a short one joins fast;
        # but on a loaded machine 2 s let a worker miss its heartbeats and rebalance in
        # the middle of a job. The join is outside the makespan, so 6 s it is.
        values.update(
            {
                "kafka.profile": "embedded",
                "kafka.session_timeout_ms": 6000,
                "kafka.heartbeat_interval_ms": 1000,
            }
        )
    return values
