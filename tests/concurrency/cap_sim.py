"""A server that answers 529 beyond a concurrency cap, as discrete events on literal time.

Each worker is a ``Limit`` with a backlog of calls; whenever one of its calls ends it
sends more until its calls in flight reach its limit (the limiter's rule). A call reaches
the server up to ``gap`` after it was granted (the worker's own processing and the
network: meanwhile the slot an answer freed is open to any worker's call). The server
admits a call while fewer than ``cap`` calls (of all workers) are in flight and answers
it ``latency`` later; beyond the cap it refuses at once (``refusal`` later, a 529). No
clock is read: the limit gets ``now`` from the event times, as the limiter passes it.

With ``board`` (a tick in seconds) the workers share the cap as ``cap_share`` says: at
each tick a worker reads the others' calls in flight and cap estimates as they were at
the previous tick (a note is up to a tick old) and holds its part by backlog.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

from stream.concurrency import Limit
from stream.concurrency.cap_share import (
    CapEstimate,
    HoldsCap,
    PeerCap,
    cap_after_refusal,
    group_cap,
    shared_level,
)

__all__ = ["CapRun", "run_cap"]


@dataclass(slots=True)
class CapRun:
    sent: int = 0
    refused: int = 0
    done: list[int] = field(default_factory=list)  # successes per worker
    finished_at: list[float] = field(default_factory=list)  # last success per worker
    busy: float = 0.0  # integral of the server's calls in flight over the measured span
    measured: float = 0.0

    @property
    def refused_share(self) -> float:
        return self.refused / self.sent if self.sent else 0.0

    @property
    def mean_inflight(self) -> float:
        return self.busy / self.measured if self.measured else 0.0


@dataclass(order=True, slots=True)
class _Event:
    at: float
    seq: int
    worker: int = field(compare=False)
    kind: str = field(compare=False)  # "arrive" at the server, "ok" or "refused" back
    started: float = field(compare=False)
    granted_at: int = field(compare=False)  # the worker's calls in flight, itself included


@dataclass(slots=True)
class _World:
    limits: list[Limit]
    cap: int
    left: list[int]
    latency: float
    jitter: float
    refusal: float
    gap: float
    measure_from: float
    rng: random.Random
    run: CapRun
    inflight: list[int]
    events: list[_Event] = field(default_factory=list)
    caps: list[CapEstimate | None] = field(default_factory=list)  # each worker's estimate
    notes: list[PeerCap] = field(default_factory=list)  # as of the last tick
    board: bool = False
    server: int = 0
    now: float = 0.0
    seq: int = 0

    def push(self, delay: float, w: int, kind: str, started: float, granted_at: int) -> None:
        self.seq += 1
        heapq.heappush(
            self.events, _Event(self.now + delay, self.seq, w, kind, started, granted_at)
        )

    def fill(self, w: int) -> None:
        while self.inflight[w] < self.limits[w].limit and self.left[w] != 0:
            self.inflight[w] += 1
            self.left[w] -= 1
            self.run.sent += 1
            delay = self.rng.uniform(0.0, self.gap)
            self.push(delay, w, "arrive", self.now, self.inflight[w])

    def advance(self, to: float) -> None:
        span = max(0.0, to - max(self.now, self.measure_from))
        self.run.busy += self.server * span
        self.run.measured += span
        self.now = to

    def arrive(self, event: _Event) -> None:
        if self.server < self.cap:
            self.server += 1
            delay = self.latency * (1.0 + self.rng.uniform(-self.jitter, self.jitter))
            self.push(delay, event.worker, "ok", event.started, event.granted_at)
        else:
            self.run.refused += 1
            self.push(self.refusal, event.worker, "refused", event.started, event.granted_at)

    def answer(self, event: _Event) -> None:
        w, run = event.worker, self.run
        self.inflight[w] -= 1
        rtt = self.now - event.started
        ok = event.kind == "ok"
        if ok:
            self.server -= 1
            run.done[w] += 1
            run.finished_at[w] = self.now
        else:
            self.left[w] += 1  # the refused call is retried
            if self.board:
                self.learn(w, event.granted_at)
        self.limits[w].on_sample(
            now=self.now, rtt=rtt, inflight=event.granted_at, dropped=not ok, overloaded=not ok
        )
        self.fill(w)

    def learn(self, w: int, granted: int) -> None:
        limit, peers = self.limits[w], self.peers(w)
        held = limit.held if isinstance(limit, HoldsCap) else None
        current = group_cap(self.caps[w], peers)
        value = cap_after_refusal(granted, held, peers, current)
        self.caps[w] = CapEstimate(value, self.now)

    def peers(self, w: int) -> list[PeerCap]:
        return [note for i, note in enumerate(self.notes) if i != w]

    def tick(self) -> None:
        """Every worker applies its share, from the notes of the previous tick."""
        backlogs = [
            max(left, 0) + inflight for left, inflight in zip(self.left, self.inflight, strict=True)
        ]
        total = sum(backlogs)
        for w, limit in enumerate(self.limits):
            peers = self.peers(w)
            cap = group_cap(self.caps[w], peers)
            if not isinstance(limit, HoldsCap) or limit.held is None or cap is None or not total:
                continue
            level = shared_level(
                level=limit.held,
                inflight=self.inflight[w],
                cap=cap,
                share=backlogs[w] / total,
                peers=peers,
                grow=True,  # one job from the start: every note is of it
            )
            limit.share_hold(level, self.now)
            self.fill(w)
        self.notes = [PeerCap(n, c) for n, c in zip(self.inflight, self.caps, strict=True)]


def run_cap(
    limits: list[Limit],
    *,
    cap: int = 64,
    backlog: list[int] | None = None,
    until: float = 30.0,
    measure_from: float = 5.0,
    latency: float = 1.0,
    jitter: float = 0.02,
    refusal: float = 0.002,
    gap: float = 0.0,
    seed: int = 7,
    ramp: tuple[int, float] | None = None,
    offsets: list[float] | None = None,
    board: float | None = None,
) -> CapRun:
    """Runs until ``until`` or every backlog is done; ``backlog`` None = endless.
    ``ramp`` = (start, doubling_s): the pacer's blind ramp, which lets a worker have
    ``start * 2 ** (t / doubling_s)`` calls out until its first answer, ``t`` counted
    from the worker's offset (``offsets``, default 0: they start together)."""
    n = len(limits)
    world = _World(
        limits=limits,
        cap=cap,
        left=list(backlog) if backlog is not None else [-1] * n,
        latency=latency,
        jitter=jitter,
        refusal=refusal,
        gap=gap,
        measure_from=measure_from,
        rng=random.Random(seed),
        run=CapRun(done=[0] * n, finished_at=[0.0] * n),
        inflight=[0] * n,
        caps=[None] * n,
        notes=[PeerCap(0, None)] * n,
        board=board is not None,
    )
    next_tick = board if board is not None else math.inf
    answered = [False] * n
    late = list(offsets) if offsets is not None else [0.0] * n
    allowance = [0] * n

    def grows_at(w: int) -> float:
        if ramp is None or answered[w]:
            return math.inf
        if allowance[w] == 0:
            return late[w]
        return late[w] + ramp[1] * math.log2((allowance[w] + 1) / ramp[0])

    if ramp is None:
        for w in range(n):
            world.fill(w)
    while True:
        w = min(range(n), key=grows_at)
        next_event = world.events[0].at if world.events else math.inf
        if min(grows_at(w), next_event) > until or (
            not world.events and all(left == 0 for left in world.left)
        ):
            break
        if next_tick < min(grows_at(w), next_event):
            world.advance(next_tick)
            world.tick()
            next_tick += board or math.inf
            continue
        if grows_at(w) < next_event:
            assert ramp is not None
            world.advance(grows_at(w))
            allowance[w] = max(ramp[0], allowance[w] + 1)
            limits[w].raise_to(allowance[w])
            world.fill(w)
            continue
        event = heapq.heappop(world.events)
        world.advance(event.at)
        if event.kind == "arrive":
            world.arrive(event)
        else:
            answered[event.worker] = True
            world.answer(event)
    return world.run
