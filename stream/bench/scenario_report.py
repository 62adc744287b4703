"""The figures of an adaptive-concurrency run: throughput, ideal, ratio, errors, recovery.

Definitions (one place, so the printed table and the README say the same thing):

- ``t0``: the first record dispatched by any worker (epoch seconds, from the samples).
- measured window: ``[t0 + warmup, t0 + duration]``.
- throughput: documents completed (result or DLQ record acknowledged) in the window,
  per second, summed over workers. Each worker's completion counter is sampled every
  0.5 s and interpolated linearly at the window edges.
- ideal: design.md section 8, averaged over the window (the rpm changes in ``shift``).
- carry: the simulator's request bucket holds up to a minute of budget. Whatever a
  worker left unused in the warm-up it may spend inside the window, so the budget there
  is the ideal plus the bucket's level at the window start spread over the window. The
  level is rebuilt from the server's timeline. ``ratio`` is throughput / (ideal +
  carry): a slow start cannot make up for itself by spending saved budget later.
- 429 / 529 / 5xx: what the *simulator* answered (``GET /stats`` timeline), in total and
  inside the window, the latter also as a share of the requests that arrived in it.
- recovery (``shift``): after each rpm change, the seconds until the trailing 2 s
  completion rate, taken only from after the change, is within 5 % of the new ideal.
- shares (``multi-worker``): each worker's documents in the window over the total.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stream.bench.scenario_runner import RunResult

__all__ = [
    "Recovery",
    "RunFigures",
    "bucket_carry",
    "completion_series",
    "figures",
    "ideal_over",
    "processed_at",
    "rate_between",
    "rpm_at",
    "start_time",
]

_RECOVERY_WINDOW_S = 2.0
_RECOVERY_STEP_S = 0.5
_WITHIN = 0.05


@dataclass(frozen=True, slots=True)
class Recovery:
    at_s: float  # seconds after t0 the change was applied
    rpm: int
    ideal: float
    recovered_after_s: float | None  # None: never within 5 % before the next change


@dataclass(slots=True)
class RunFigures:
    scenario: str
    variant: str
    adaptive: bool
    workers: int
    duration_s: float
    warmup_s: float
    window_s: float
    published: int
    completed_in_window: float
    throughput: float
    answers_per_s: float  # successful Claude answers per second in the window (all workers)
    ideal: float
    carry: float  # docs/s of request-bucket budget saved before the window
    ratio: float  # throughput / (ideal + carry)
    ratio_to_ideal: float  # throughput / ideal (the design formula alone)
    requests_in_window: int
    r429_total: int
    r429_window: int
    r529_total: int
    r529_window: int
    r5xx_total: int
    r5xx_window: int
    client_rate_limited: int  # attempts the workers classified rate_limited
    client_overloaded: int
    lost: int
    unprocessed: int
    duplicated: int
    dead_letters: int
    results: int
    saturated: bool  # the backlog lasted the whole window
    mean_limit: float | None  # summed over workers, in the window
    mean_inflight: float | None
    load_before: float  # 1-minute load average of the (shared, 2-core) machine at start
    cpu_ms_per_doc: float  # worker processes' CPU (imports included) per document
    recoveries: list[Recovery] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=dict)  # worker_id -> share of window
    outputs_by_worker: dict[str, int] = field(default_factory=dict)

    @property
    def pct_429(self) -> float:
        return _pct(self.r429_window, self.requests_in_window)

    @property
    def pct_529(self) -> float:
        return _pct(self.r529_window, self.requests_in_window)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["pct_429_window"] = round(self.pct_429, 3)
        out["pct_529_window"] = round(self.pct_529, 3)
        return out


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def processed_at(rows: Sequence[dict[str, Any]], ts: float, key: str = "processed") -> float:
    """A worker's counter at ``ts``, linear between samples, flat outside them."""
    if not rows or ts <= rows[0]["ts"]:
        return float(rows[0][key]) if rows and ts >= rows[0]["ts"] else 0.0
    for before, after in itertools.pairwise(rows):
        if before["ts"] <= ts <= after["ts"]:
            span = after["ts"] - before["ts"]
            frac = (ts - before["ts"]) / span if span > 0 else 1.0
            return float(before[key] + (after[key] - before[key]) * frac)
    return float(rows[-1][key])


def rate_between(run: RunResult, start: float, end: float) -> float:
    """Documents/s completed by all workers between two epoch times."""
    if end <= start:
        return 0.0
    done = sum(processed_at(rows, end) - processed_at(rows, start) for rows in run.samples.values())
    return done / (end - start)


def completion_series(run: RunResult, t0: float, step_s: float = 1.0) -> list[tuple[float, float]]:
    """(seconds after t0, documents/s in the step ending there) for the whole run."""
    last = max((rows[-1]["ts"] for rows in run.samples.values() if rows), default=t0)
    out = []
    t = t0 + step_s
    while t <= last + 1e-9:
        out.append((t - t0, rate_between(run, t - step_s, t)))
        t += step_s
    return out


def start_time(run: RunResult) -> float:
    """``t0``: the first sample of any worker with a dispatched record."""
    times = [
        float(row["ts"]) for rows in run.samples.values() for row in rows if row["dispatched"] > 0
    ]
    if not times:
        raise ValueError("no worker dispatched a record")
    return min(times)


def rpm_at(run: RunResult, ts: float) -> int | None:
    rpm = run.scenario.rpm
    for when, new in run.changes_ts:
        if when <= ts:
            rpm = new
    return rpm


def ideal_over(run: RunResult, start: float, end: float) -> float:
    """The ideal averaged over [start, end] (piecewise constant between rpm changes)."""
    edges = sorted({start, end, *(w for w, _ in run.changes_ts if start < w < end)})
    total = 0.0
    for a, b in itertools.pairwise(edges):
        total += run.scenario.ideal_at(rpm_at(run, a), run.client_cap) * (b - a)
    return total / (end - start) if end > start else 0.0


def bucket_carry(run: RunResult, at: float) -> float:
    """Requests the simulator's RPM bucket held at ``at`` (epoch), rebuilt from its timeline.

    The runner empties the bucket just before the workers start (``emptied_ts``, else
    the timeline's t = 0); it refills at rpm/60 per second up to rpm, and every request
    it admitted is taken out: arrivals minus the 429s, 529s and 4xx, which are refused
    before or by the bucket (a random 500 is refused after it, so it counts). Whole
    seconds: good to about one second of refill.
    """
    if run.scenario.rpm is None:
        return 0.0
    rows = {int(row["t"]): row for row in run.sim_stats.get("timeline", [])}
    emptied = run.emptied_ts if run.emptied_ts is not None else run.sim_origin_ts
    level, t = 0.0, max(0, round(emptied - run.sim_origin_ts))
    while run.sim_origin_ts + t + 1 <= at:
        rpm = rpm_at(run, run.sim_origin_ts + t) or 0
        row = rows.get(t, {})
        admitted = row.get("requests", 0) - row.get("429", 0) - row.get("529", 0)
        level = max(0.0, min(float(rpm), level + rpm / 60.0) - (admitted - row.get("4xx", 0)))
        t += 1
    return level


def _server_counts(run: RunResult, start: float, end: float) -> dict[str, int]:
    """Timeline sums of the seconds that start inside [start, end)."""
    sums = {"requests": 0, "429": 0, "529": 0, "5xx": 0}
    for row in run.sim_stats.get("timeline", []):
        ts = run.sim_origin_ts + row["t"]
        if start <= ts < end:
            for key in sums:
                sums[key] += int(row.get(key, 0))
    return sums


def _recoveries(run: RunResult, t0: float) -> list[Recovery]:
    out = []
    end = t0 + run.duration_s
    bounds = [w for w, _ in run.changes_ts[1:]] + [end]
    for (when, rpm), until in zip(run.changes_ts, bounds, strict=False):
        ideal = run.scenario.ideal_at(rpm, run.client_cap)
        recovered = None
        t = when + _RECOVERY_WINDOW_S
        while t <= until + 1e-9:
            rate = rate_between(run, t - _RECOVERY_WINDOW_S, t)
            if abs(rate - ideal) <= _WITHIN * ideal:
                recovered = round(t - when, 1)
                break
            t += _RECOVERY_STEP_S
        out.append(Recovery(round(when - t0, 1), rpm, ideal, recovered))
    return out


def _mean_controller(run: RunResult, start: float, end: float, key: str) -> float | None:
    per_worker = []
    for rows in run.samples.values():
        values = [r[key] for r in rows if start <= r["ts"] <= end and r[key] is not None]
        if values:
            per_worker.append(sum(values) / len(values))
    return sum(per_worker) if per_worker else None


def _shares(run: RunResult, start: float, end: float) -> dict[str, float]:
    done = {
        worker: processed_at(rows, end) - processed_at(rows, start)
        for worker, rows in run.samples.items()
    }
    total = sum(done.values())
    return {w: (n / total if total else 0.0) for w, n in sorted(done.items())}


def _answers_per_s(run: RunResult, start: float, end: float) -> float:
    """Claude answers/s in the window: when it differs from documents/s, results queued
    up between the call and the broker's acknowledgement (or were let out in a burst)."""
    total = 0.0
    for rows in run.samples.values():
        answers = [{"ts": r["ts"], "n": r["outcomes"].get("success", 0)} for r in rows]
        total += processed_at(answers, end, "n") - processed_at(answers, start, "n")
    return total / (end - start) if end > start else 0.0


def _cpu_ms_per_doc(run: RunResult) -> float:
    processed = sum(w.processed for w in run.workers)
    return 1000.0 * sum(w.cpu_s for w in run.workers) / processed if processed else 0.0


def figures(run: RunResult) -> RunFigures:
    """Every figure of one run (see the module docstring for the definitions)."""
    t0 = start_time(run)
    start, end = t0 + run.warmup_s, t0 + run.duration_s
    done = sum(processed_at(r, end) - processed_at(r, start) for r in run.samples.values())
    throughput = done / (end - start)
    ideal = ideal_over(run, start, end)
    carry = bucket_carry(run, start) * (1.0 - run.scenario.error_rate) / (end - start)
    server = _server_counts(run, start, end)
    statuses = run.sim_stats.get("status_counts", {})
    outcomes: dict[str, int] = {}
    for w in run.workers:
        for name, n in w.attempt_outcomes.items():
            outcomes[name] = outcomes.get(name, 0) + n
    books = run.accounting
    processed_at_end = sum(processed_at(r, end) for r in run.samples.values())
    return RunFigures(
        scenario=run.scenario.name,
        variant=run.variant.label,
        adaptive=run.variant.adaptive,
        workers=run.scenario.workers,
        duration_s=run.duration_s,
        warmup_s=run.warmup_s,
        window_s=end - start,
        published=run.published,
        completed_in_window=round(done, 1),
        throughput=throughput,
        answers_per_s=_answers_per_s(run, start, end),
        ideal=ideal,
        carry=carry,
        ratio=throughput / (ideal + carry) if ideal + carry else 0.0,
        ratio_to_ideal=throughput / ideal if ideal else 0.0,
        requests_in_window=server["requests"],
        r429_total=int(statuses.get("429", 0)),
        r429_window=server["429"],
        r529_total=int(statuses.get("529", 0)),
        r529_window=server["529"],
        r5xx_total=sum(n for code, n in statuses.items() if code.startswith("5") and code != "529"),
        r5xx_window=server["5xx"],
        client_rate_limited=outcomes.get("rate_limited", 0),
        client_overloaded=outcomes.get("overloaded", 0),
        lost=books.lost,
        unprocessed=books.unprocessed,
        duplicated=books.duplicated,
        dead_letters=books.dead_letters,
        results=books.results,
        saturated=processed_at_end < run.published,
        mean_limit=_mean_controller(run, start, end, "limit"),
        mean_inflight=_mean_controller(run, start, end, "inflight"),
        load_before=round(run.load_before, 2),
        cpu_ms_per_doc=_cpu_ms_per_doc(run),
        recoveries=_recoveries(run, t0),
        shares=_shares(run, start, end) if run.scenario.workers > 1 else {},
        outputs_by_worker=dict(books.by_worker),
    )
