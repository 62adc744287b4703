"""The ramp, end to end through ``Caller`` on the injected clock: fake servers at the
Claude client seam (a concurrency cap answering 529, a request bucket with headers)."""

from __future__ import annotations

import asyncio
import math

from stream.calls import Caller
from stream.claude.types import CallRequest, CallResult
from stream.concurrency import CircuitBreaker, ManualClock
from stream.config import load_settings
from tests.fakes import answered, refused


class FakeServer:
    """Admits a call if fewer than ``cap`` are in flight and the request bucket (``rpm``,
    holding ``bucket`` requests, starting full) has one; the answer comes ``latency_s``
    later with the bucket's headers as of the admission. Otherwise 529 (cap) or 429
    (bucket) at once."""

    def __init__(
        self,
        clock: ManualClock,
        *,
        cap: float = math.inf,
        rpm: int | None = None,
        bucket: float = 0.0,
        latency_s: float = 1.0,
    ) -> None:
        self.clock = clock
        self.cap = cap
        self.rpm = rpm
        self.level = bucket
        self.bucket = bucket
        self.updated = clock.now()
        self.latency_s = latency_s
        self.inflight = self.peak = self.admitted = 0
        self.refused: dict[int, int] = {429: 0, 529: 0}

    def _headers(self) -> dict[str, str]:
        if self.rpm is None:
            return {}
        return {
            "anthropic-ratelimit-requests-limit": str(self.rpm),
            "anthropic-ratelimit-requests-remaining": str(math.floor(self.level)),
        }

    def _refill(self) -> None:
        now = self.clock.now()
        if self.rpm is not None:
            self.level = min(self.bucket, self.level + (now - self.updated) * self.rpm / 60)
        self.updated = now

    async def call(self, request: CallRequest) -> CallResult:
        self._refill()
        if self.inflight >= self.cap:
            return self._refuse(request, 529)
        if self.rpm is not None and self.level < 1:
            return self._refuse(request, 429)
        self.level -= 1 if self.rpm is not None else 0
        headers = self._headers()
        self.inflight += 1
        self.admitted += 1
        self.peak = max(self.peak, self.inflight)
        try:
            await self.clock.sleep(self.latency_s)
        finally:
            self.inflight -= 1
        return answered(request.model, headers, self.latency_s)

    def _refuse(self, request: CallRequest, status: int) -> CallResult:
        self.refused[status] += 1
        return refused(request.model, self._headers(), status)

    async def count_tokens(self, request: CallRequest) -> int:
        return 10

    async def aclose(self) -> None:
        return None


def _caller(server: FakeServer, clock: ManualClock, **limits: object) -> Caller:
    values = {"limits.max_attempts": 50, **{f"limits.{k}": v for k, v in limits.items()}}
    settings = load_settings(None, values)
    breaker = CircuitBreaker(clock, failure_threshold=1000, open_s=60.0)
    return Caller(server, settings.limits, clock, breaker=breaker)


def _start(caller: Caller, n: int) -> list[asyncio.Task[object]]:
    def request(i: int) -> CallRequest:
        return CallRequest(model="m", system="s", user="u", max_tokens=50, document_id=str(i))

    return [asyncio.create_task(caller.call(request(i))) for i in range(n)]


async def test_a_bare_529_cap_is_found_within_one_round_trip() -> None:
    """Cap 64, no headers, 1 s calls: before the first success comes back, 64 calls are
    in flight, one 529 taught the limit the cap, and no second one was needed."""
    clock = ManualClock()
    server = FakeServer(clock, cap=64)
    caller = _caller(server, clock, backoff_base_s=0.5)
    tasks = _start(caller, 300)
    await clock.run_for(0.9)
    assert server.inflight == 64
    assert server.refused[529] == 1
    assert caller.controls["m"].limiter.limit == 64
    await clock.run_for(10.0)
    assert all(t.done() for t in tasks)
    assert server.refused[529] <= 0.02 * (300 + server.refused[529])


async def test_the_advertised_budget_is_spent_at_once() -> None:
    """A slow blind ramp lets one call out; its answer advertises 2999 of 3000 requests:
    every waiting call goes at once (up to max_concurrency), not one more per answer."""
    clock = ManualClock()
    server = FakeServer(clock, rpm=3000, bucket=3000)
    caller = _caller(server, clock, ramp_start=1, ramp_doubling_s=60.0, max_concurrency=200)
    tasks = _start(caller, 300)
    await clock.run_for(0.5)
    assert server.admitted == 1
    await clock.run_for(0.6, rounds=5000)  # no clock time passes between those sends
    assert server.inflight == 200
    await clock.run_for(3.0)
    assert all(t.done() for t in tasks)
    assert server.refused[429] == 0


async def test_a_one_second_bucket_is_spent_in_the_first_round_trip_then_paced() -> None:
    """3000 RPM held as 50 requests (a per-minute limit enforced per second): the blind
    ramp spends the 50 before any answer, one 429 stops it, and from then on the pacer
    keeps the server at its 50/s with no further 429."""
    clock = ManualClock()
    server = FakeServer(clock, rpm=3000, bucket=50)
    caller = _caller(server, clock)
    tasks = _start(caller, 400)
    await clock.run_for(0.9)
    assert server.admitted >= 50 and server.refused[429] == 1
    await clock.run_for(5.0)
    # what the server could admit by 5.9 s: the full bucket plus 50/s
    assert server.admitted >= 0.97 * (50 + 5.9 * 50)
    assert server.refused[429] == 1
    await clock.run_for(5.0)
    assert all(t.done() for t in tasks)


async def test_a_429_that_brings_a_lower_limit_is_not_taken_for_other_clients() -> None:
    """The limit drops from 3000 to 600 RPM: the 429 that says so carries the new limit,
    and the pacer does not go into its contended mode over it."""
    clock = ManualClock()
    server = FakeServer(clock, rpm=3000, bucket=3000)
    caller = _caller(server, clock)
    tasks = _start(caller, 50)
    await clock.run_for(1.5, rounds=500)
    server.rpm, server.bucket, server.level = 600, 10, 0.0
    more = _start(caller, 50)
    await clock.run_for(0.5, rounds=500)
    assert server.refused[429] >= 1
    assert not caller.controls["m"].pacer.contended
    await clock.run_for(30.0)
    assert all(t.done() for t in tasks + more)


async def test_the_blind_ramp_starts_when_the_client_is_ready_not_at_the_first_call() -> None:
    """The client takes 3 s to build (the worker's warming thread): calls that arrive
    meanwhile wait before taking any budget, so the ramp's doublings start when the
    client is ready and only its first 4 calls go out then, not everything 30 doublings
    had allowed (a 529 storm at a cap of 64)."""
    clock = ManualClock()
    server = FakeServer(clock, cap=64)
    settings = load_settings(None, {"limits.max_attempts": 50})
    built = asyncio.Event()

    async def client_ready() -> None:
        await built.wait()

    breaker = CircuitBreaker(clock, failure_threshold=1000, open_s=60.0)
    caller = Caller(server, settings.limits, clock, breaker=breaker, client_ready=client_ready)
    tasks = _start(caller, 300)
    await clock.run_for(3.0)
    assert server.admitted == 0
    built.set()
    await clock.run_for(0.001)
    assert server.admitted == 4
    await clock.run_for(15.0)
    assert all(t.done() for t in tasks)
    assert server.refused[529] <= 2
