"""Three workers on one account, end to end through ``Caller`` on the injected clock.

One fake server bucket (3000 RPM enforced per second: 50 requests, 50/s, 1 s calls,
headers as of the admission) serves three ``Caller``s, each with its own documents,
as three worker processes of one consumer group would be.
"""

from __future__ import annotations

import asyncio
import math
import random

from stream.calls import Caller
from stream.claude.types import CallRequest, CallResult
from stream.concurrency import CircuitBreaker, ManualClock
from stream.config import load_settings
from tests.fakes import answered, refused


class SharedBucket:
    """50 requests refilled at 50/s; answers 1 s (plus up to 20 ms) after admission."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.level = 50.0
        self.updated = clock.now()
        self.rng = random.Random(7)
        self.admitted: list[float] = []
        self.refused: list[float] = []

    def _headers(self) -> dict[str, str]:
        return {
            "anthropic-ratelimit-requests-limit": "3000",
            "anthropic-ratelimit-requests-remaining": str(math.floor(self.level)),
        }

    async def call(self, request: CallRequest) -> CallResult:
        now = self.clock.now()
        self.level = min(50.0, self.level + (now - self.updated) * 50.0)
        self.updated = now
        if self.level < 1.0:
            self.refused.append(now)
            return refused(request.model, self._headers())
        self.level -= 1.0
        self.admitted.append(now)
        headers = self._headers()
        await self.clock.sleep(1.0 + self.rng.uniform(0.0, 0.02))
        return answered(request.model, headers, 1.0)

    async def count_tokens(self, request: CallRequest) -> int:
        return 10

    async def aclose(self) -> None:
        return None


def _caller(server: SharedBucket, clock: ManualClock) -> Caller:
    settings = load_settings(None, {"limits.max_attempts": 50})
    breaker = CircuitBreaker(clock, failure_threshold=1000, open_s=60.0)
    return Caller(server, settings.limits, clock, breaker=breaker, rng=random.Random(3))


async def _job(hint: float | None) -> SharedBucket:
    """150 documents for each of three callers; ``hint``: each one's share, if told."""
    clock = ManualClock()
    server = SharedBucket(clock)
    callers = [_caller(server, clock) for _ in range(3)]
    if hint is not None:
        for caller in callers:
            caller.set_share_hint(hint)

    def request(i: int) -> CallRequest:
        return CallRequest(model="m", system="s", user="u", max_tokens=50, document_id=str(i))

    tasks = [asyncio.create_task(c.call(request(i))) for c in callers for i in range(150)]
    while not all(t.done() for t in tasks):
        await clock.run_for(0.005, rounds=60)
    return server


async def test_three_workers_told_their_third_spend_the_account_without_colliding() -> None:
    """Each told it owns a third of the partitions: the group ramps as one worker would,
    the three blind ramps' 429s are the only ones (one each), and the last of the 450
    calls is admitted within 0.6 s of the ideal (50 at once, then 50 a second: 8 s)."""
    server = await _job(hint=1 / 3)
    assert len(server.refused) <= 3
    assert max(server.admitted) <= 8.6


async def test_without_the_hint_the_same_three_workers_collide() -> None:
    """The same job with no share told: each counts the whole refill as its own until
    the headers show the others; they collide after the first round trip too (11 429s)
    and the job ends late (8.8 s against 8.15 s told)."""
    server = await _job(hint=None)
    assert len(server.refused) > 3
    assert max(server.admitted) > 8.6
