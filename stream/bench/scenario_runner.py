"""Run one adaptive-concurrency scenario variant: simulator, backlog, worker processes, books.

One *run* = one scenario (the simulator's limits) x one *variant* (the worker's limit
algorithm: ``aimd``, ``token_latency`` or a fixed concurrency baseline). Steps:

1. fresh topics and group on the broker; publish a backlog big enough to keep the
   workers saturated for the whole duration (ideal rate x (duration + 5 s) + 200);
2. start the simulator in its own process (``SimulatorProcess``) and *empty its request
   bucket* just before the workers start: the API's buckets hold a full minute's
   allowance, so a fresh one would let a worker burst at up to ``max_concurrency`` for
   tens of seconds and the run would measure the burst, not the controller. A
   long-running processor never has that allowance. (rpm set to 1, which clips the
   level, then to the scenario's rpm. Never while a worker runs: a response between the
   two admin calls advertises a 1-RPM limit, and a pacer that saw it waits a minute.)
   The bucket refills while the workers start (3-5 s); the warm-up absorbs that, and
   what is left at the window start is reported as carry;
3. start the worker processes (``stream.bench.scenario_worker``), each sampling its
   limiter every 0.5 s; for ``shift`` the runner changes the simulator's rpm live
   (``POST /admin/limits``) at fixed offsets from the first dispatched record, so the
   change lines up with the measured timeline (a ``--schedule`` counts from the
   simulator's start, seconds before the workers have joined their group);
4. after the workers exit, read ``GET /stats`` (the server's per-second timeline) and
   join the results and DLQ topics back to the published offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stream.bench.overhead import settings_payload
from stream.bench.scenario_books import ScenarioAccounting, account_outputs, publish_backlog
from stream.bench.scenario_worker import WorkerSummary
from stream.concurrency import LIMIT_ALGORITHMS
from stream.config import Settings, load_settings
from stream.errors import DocstreamError
from stream.simulator import SimulatorConfig, SimulatorProcess

__all__ = [
    "RunResult",
    "Scenario",
    "Variant",
    "backlog_for",
    "load_run",
    "run_variant",
    "variant_settings",
]

_SIM_KEY = "sim-bench-key"  # the simulator only checks that a key is present
_WORKER_GRACE_S = 600.0  # beyond duration + drain, a worker that has not exited is killed


@dataclass(frozen=True, slots=True)
class Scenario:
    """The simulator's side of a scenario and how many workers share it."""

    name: str
    title: str
    rpm: int | None
    max_concurrency: int | None = None
    latency_s: float = 1.0
    per_token_latency_s: float = 0.0
    error_rate: float = 0.0
    workers: int = 1
    changes: tuple[tuple[float, int], ...] = ()  # (fraction of the duration, new rpm)

    def sim_config(self) -> SimulatorConfig:
        return SimulatorConfig(
            rpm=1 if self.rpm is not None else None,  # empty; the real rpm is set at start
            max_concurrency=self.max_concurrency,
            base_latency_s=self.latency_s,
            per_token_latency_s=self.per_token_latency_s,
            error_rate=self.error_rate,
        )

    def mean_latency_s(self, config: SimulatorConfig) -> float:
        """Server latency of a mean answer (uniform out_min..out_max tokens)."""
        tokens = (config.out_min + config.out_max) / 2
        return self.latency_s + self.per_token_latency_s * tokens

    def ideal_at(self, rpm: int | None, client_cap: int) -> float:
        """Documents/s the server allows (design.md section 8), one call per document.

        min(RPM/60, cap / mean latency, the client's own cap / mean latency). No ITPM or
        OTPM limit is set in these scenarios. A random 500 also spends a request of the
        RPM budget, so with an error rate e a document costs 1/(1-e) requests on average.
        """
        latency = self.mean_latency_s(self.sim_config())
        terms = [client_cap / latency]
        if rpm is not None:
            terms.append(rpm / 60.0 * (1.0 - self.error_rate))
        if self.max_concurrency is not None:
            terms.append(self.max_concurrency / latency)
        return min(terms)

    def peak_ideal(self, client_cap: int) -> float:
        rpms = [self.rpm, *(rpm for _, rpm in self.changes)]
        return max(self.ideal_at(r, client_cap) for r in rpms)


@dataclass(frozen=True, slots=True)
class Variant:
    """The worker's side: ``aimd``, ``token_latency``, or ``fixed`` at ``concurrency``."""

    algorithm: str
    concurrency: int | None = None

    @property
    def label(self) -> str:
        return self.algorithm if self.adaptive else f"{self.algorithm}-{self.concurrency}"

    @property
    def adaptive(self) -> bool:
        return LIMIT_ALGORITHMS[self.algorithm].adaptive


@dataclass(slots=True)
class RunResult:
    """Everything one run produced; the report module turns it into figures."""

    scenario: Scenario
    variant: Variant
    duration_s: float
    warmup_s: float
    client_cap: int  # limits.max_concurrency x workers
    published: int
    workers: list[WorkerSummary]
    samples: dict[str, list[dict[str, Any]]]  # worker_id -> sample rows
    sim_stats: dict[str, Any]
    sim_origin_ts: float  # epoch time of the simulator timeline's t = 0
    changes_ts: list[tuple[float, int]]  # (epoch time, rpm) of the live changes
    accounting: ScenarioAccounting
    emptied_ts: float | None = None  # epoch time the request bucket was emptied
    load_before: float = 0.0  # 1-minute load average when the run started (shared machine)


def variant_settings(
    base: Settings, scenario: Scenario, variant: Variant, base_url: str
) -> Settings:
    """Per-run settings: fresh topics and group, the simulator, the variant's limits."""
    data = settings_payload(base)
    suffix = uuid.uuid4().hex[:10]
    name = f"bench-{scenario.name}-{variant.label}-{suffix}"
    kafka = data["kafka"]
    kafka["group_id"] = name
    kafka["topics"].update(input=name, results=f"{name}.results", dlq=f"{name}.dlq")
    data["claude"].update(base_url=base_url, api_key=_SIM_KEY, api_key_file=None)
    limits = data["limits"]
    limits["algorithm"] = variant.algorithm
    if variant.concurrency is not None:
        limits["initial_concurrency"] = variant.concurrency
        limits["min_concurrency"] = min(limits["min_concurrency"], variant.concurrency)
        limits["max_concurrency"] = max(limits["max_concurrency"], variant.concurrency)
    return load_settings(None, data)


def backlog_for(scenario: Scenario, duration_s: float, client_cap: int) -> int:
    """Documents enough to keep the workers busy at the scenario's best rate."""
    return math.ceil(scenario.peak_ideal(client_cap) * (duration_s + 5.0)) + 200


async def run_variant(
    base: Settings,
    scenario: Scenario,
    variant: Variant,
    *,
    duration_s: float,
    warmup_s: float,
    out_dir: Path,
    finish: bool,
) -> RunResult:
    """One run, start to books (see the module docstring)."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    client_cap = base.limits.max_concurrency * scenario.workers
    load_before = os.getloadavg()[0]
    with SimulatorProcess(scenario.sim_config()) as sim:
        settings = variant_settings(base, scenario, variant, sim.base_url)
        coords = await publish_backlog(settings, backlog_for(scenario, duration_s, client_cap))
        origin = await asyncio.to_thread(_start_empty, sim, scenario.rpm)
        paths = [out_dir / f"worker-{i}.jsonl" for i in range(scenario.workers)]
        spawned = [
            asyncio.create_task(_spawn_worker(settings, path, duration_s, finish)) for path in paths
        ]
        driver = asyncio.create_task(_drive_simulator(sim, scenario, paths, duration_s))
        try:
            summaries = await asyncio.wait_for(
                asyncio.gather(*spawned), duration_s + _WORKER_GRACE_S
            )
        finally:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        sim_stats = await asyncio.to_thread(sim.stats)
    changes = driver.result() if not driver.cancelled() else []
    samples = {s.worker_id: _read_samples(p) for s, p in zip(summaries, paths, strict=True)}
    books = await account_outputs(settings, coords)
    raw = {
        "scenario": asdict(scenario),
        "variant": asdict(variant),
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "client_cap": client_cap,
        "published": len(coords),
        "workers": [asdict(s) for s in summaries],
        "sim_stats": sim_stats,
        "sim_origin_ts": origin,
        "changes_ts": changes,
        "emptied_ts": origin,
        "accounting": asdict(books),
        "load_before": load_before,
    }
    await asyncio.to_thread((out_dir / "run.json").write_text, json.dumps(raw) + "\n")
    return RunResult(
        scenario=scenario,
        variant=variant,
        duration_s=duration_s,
        warmup_s=warmup_s,
        client_cap=client_cap,
        published=len(coords),
        workers=list(summaries),
        samples=samples,
        sim_stats=sim_stats,
        sim_origin_ts=origin,
        changes_ts=changes,
        emptied_ts=origin,
        accounting=books,
        load_before=load_before,
    )


def load_run(out_dir: Path) -> RunResult:
    """A finished run back from its directory (``run.json`` and the samples files)."""
    raw = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    spec = raw["scenario"]
    spec["changes"] = tuple(tuple(c) for c in spec["changes"])
    workers = [WorkerSummary(**w) for w in raw["workers"]]
    paths = sorted(out_dir.glob("worker-*.jsonl"))
    return RunResult(
        scenario=Scenario(**spec),
        variant=Variant(**raw["variant"]),
        duration_s=raw["duration_s"],
        warmup_s=raw["warmup_s"],
        client_cap=raw["client_cap"],
        published=raw["published"],
        workers=workers,
        samples={w.worker_id: _read_samples(p) for w, p in zip(workers, paths, strict=True)},
        sim_stats=raw["sim_stats"],
        sim_origin_ts=raw["sim_origin_ts"],
        changes_ts=[(float(w), int(r)) for w, r in raw["changes_ts"]],
        emptied_ts=raw.get("emptied_ts"),
        accounting=ScenarioAccounting(**raw["accounting"]),
        load_before=raw["load_before"],
    )


def _start_empty(sim: SimulatorProcess, rpm: int | None) -> float:
    """Fresh stats and an empty request bucket; returns the timeline's t = 0 (epoch)."""
    before = time.time()
    sim.reset()
    origin = (before + time.time()) / 2
    if rpm is not None:
        _empty_bucket(sim, rpm)
    return origin


def _empty_bucket(sim: SimulatorProcess, rpm: int) -> None:
    sim.configure(rpm=1)  # clips the bucket's level to 1
    sim.configure(rpm=rpm)  # capacity back up; the level refills from ~0


async def _spawn_worker(
    settings: Settings, samples: Path, duration_s: float, finish: bool
) -> WorkerSummary:
    args = [sys.executable, "-m", "stream.bench.scenario_worker"]
    args += ["--duration", repr(duration_s), "--samples", str(samples)]
    if finish:
        args.append("--finish")
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        out, _ = await proc.communicate(json.dumps(settings_payload(settings)).encode("utf-8"))
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    lines = out.decode("utf-8", errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise DocstreamError(f"a scenario worker exited with code {proc.returncode}")
    return WorkerSummary(**json.loads(lines[-1]))


async def _drive_simulator(
    sim: SimulatorProcess, scenario: Scenario, paths: list[Path], duration_s: float
) -> list[tuple[float, int]]:
    """Change the rpm at each (fraction x duration) after the first dispatched record;
    returns [(epoch time, rpm) of each change]."""
    applied: list[tuple[float, int]] = []
    if not scenario.changes:
        return applied
    first: float | None = None
    while first is None:
        await asyncio.sleep(0.05)
        first = _first_dispatch(paths)
    for fraction, rpm in scenario.changes:
        await asyncio.sleep(max(0.0, first + fraction * duration_s - time.time()))
        await asyncio.to_thread(sim.configure, rpm=rpm)
        applied.append((time.time(), rpm))
    return applied


def _first_dispatch(paths: list[Path]) -> float | None:
    times = [row["ts"] for path in paths for row in _read_samples(path) if row["dispatched"] > 0]
    return min(times) if times else None


def _read_samples(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))  # a half-written last line is skipped
    return rows
