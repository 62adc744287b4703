"""The ideal makespan of a job: how soon the server could possibly have answered N calls.

design.md section 8: the time the server's buckets need to admit N requests (they start
full) plus one mean latency. The server here may also cap concurrency (529 beyond
``cap`` in flight), and the client caps itself at ``max_concurrency`` per worker, so the
model admits a fluid of requests under every constraint at once:

- the request bucket holds ``bucket_s`` seconds of the per-minute limit, starts full and
  refills at rpm / 60 per second; a live rpm change (``shift``) changes the refill and
  clips the level to the new capacity, as the simulator does;
- at most ``cap`` requests are in flight, each for one mean latency.

Requests = documents / (1 - error rate): a random 500 spends a request of the budget.
The model steps in ``dt`` (5 ms); it is a bound, not a schedule, so no retry back-off
and no client start-up is in it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["IdealJob", "ideal_job"]


@dataclass(frozen=True, slots=True)
class IdealJob:
    requests: float
    makespan_s: float  # last admission + one mean latency
    admitted_per_s: tuple[float, ...]  # requests admitted in each whole second from 0


def ideal_job(
    documents: int,
    *,
    rpm_steps: tuple[tuple[float, int], ...] | None,
    bucket_s: float,
    cap: int | None,
    latency_s: float,
    error_rate: float = 0.0,
    dt: float = 0.005,
) -> IdealJob:
    """The ideal of a job of ``documents`` one-call documents.

    ``rpm_steps``: ((from second, rpm), ...) sorted, the first at 0; None = no rpm
    limit. ``cap``: the tightest concurrency cap (server or client), None = none.
    """
    if documents < 0 or latency_s <= 0 or dt <= 0 or not 0 <= error_rate < 1:
        raise ValueError("need documents >= 0, latency_s > 0, dt > 0, 0 <= error_rate < 1")
    if rpm_steps is None and cap is None:
        raise ValueError("an ideal needs an rpm limit or a concurrency cap")
    requests = documents / (1.0 - error_rate)
    left, t, last = requests, 0.0, 0.0
    level = _capacity(rpm_steps, 0.0, bucket_s)
    per_second: list[float] = []
    flying: deque[float] = deque([0.0] * max(1, round(latency_s / dt)))
    inflight = 0.0
    while left > 1e-9:
        rate_now = _rpm(rpm_steps, t)
        if rate_now is not None:
            level = min(level + rate_now / 60.0 * dt, _capacity(rpm_steps, t, bucket_s))
        inflight -= flying.popleft()
        room = [left]
        if rate_now is not None:
            room.append(max(level, 0.0))
        if cap is not None:
            room.append(max(cap - inflight, 0.0))
        admit = min(room)
        if admit > 0:
            left -= admit
            level -= admit if rate_now is not None else 0.0
            inflight += admit
            last = t
            second = int(t + 1e-6)  # t is a sum of dt steps: 0.9999999 is second 1
            per_second.extend([0.0] * (second + 1 - len(per_second)))
            per_second[second] += admit
        flying.append(admit)
        t += dt
    return IdealJob(requests, last + latency_s, tuple(per_second))


def _rpm(steps: tuple[tuple[float, int], ...] | None, t: float) -> float | None:
    if steps is None:
        return None
    current = steps[0][1]
    for at, rpm in steps:
        if at <= t:
            current = rpm
    return float(current)


def _capacity(steps: tuple[tuple[float, int], ...] | None, t: float, bucket_s: float) -> float:
    rpm = _rpm(steps, t)
    return math.inf if rpm is None else max(1.0, rpm * bucket_s / 60.0)
