"""Workers sharing one account converge to fair shares without talking to each other.

Three independent controllers (each its own AIMD limiter, header-synced pacer and
retry-after gate, as three worker processes would have) call one simulated account
whose request bucket is the simulator's own. Simulated time (ManualClock): deterministic,
no sleeping, no wall-clock thresholds.
"""

from __future__ import annotations

import asyncio
import random

from stream.concurrency import AIMDLimit, HeadroomPacer, Limiter, ManualClock, RetryAfterGate
from stream.simulator.buckets import RateLimiter

RPM = 600  # 10 requests/s for the whole account
WARMUP_S = 60.0  # the bucket starts full (a minute's budget); judge the steady state
END_S = 180.0


def _headers(raw: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in raw.split("\r\n") if line)


async def _worker(index: int, clock: ManualClock, server: RateLimiter, done: list[int]) -> None:
    rng = random.Random(index)
    limiter = Limiter(AIMDLimit(initial=8, min_limit=1, max_limit=64), clock)
    pacer = HeadroomPacer(clock, wall=lambda: 1.75e9 + clock.now())
    gate = RetryAfterGate(clock, rng=rng)

    async def one_call_loop() -> None:
        while clock.now() < END_S:
            await gate.wait("model")
            reservation = await pacer.reserve(100, 200)
            permit = await limiter.acquire()
            admitted = server.admit(100, 200)
            headers = _headers(server.headers())
            if not admitted.admitted:
                await clock.sleep(0.01)
                permit.dropped()
                pacer.observe_headers(headers, reservation)
                pacer.reconcile(reservation, 0, 0)
                gate.block("model", float(admitted.retry_after_header))
                continue
            await clock.sleep(rng.uniform(0.8, 1.2))  # ~1 s calls
            server.settle(200, 150)
            if clock.now() > WARMUP_S:
                done[index] += 1
            permit.success(output_tokens=150)
            pacer.observe_headers(headers, reservation)
            pacer.reconcile(reservation, 100, 150)

    await asyncio.gather(*(one_call_loop() for _ in range(24)))


async def test_three_uncoordinated_workers_share_one_rpm_limit_fairly() -> None:
    """Aggregate throughput stays near the account's rate and no worker gets less than
    half its fair share."""
    clock = ManualClock(auto_advance=True)
    server = RateLimiter(RPM, None, None, now=clock.now, wall=lambda: 1.75e9 + clock.now())
    done = [0, 0, 0]

    await asyncio.gather(*(_worker(i, clock, server, done) for i in range(3)))

    window = END_S - WARMUP_S
    ideal = RPM / 60
    aggregate = sum(done) / window
    fair = ideal / 3
    assert aggregate >= 0.9 * ideal
    # calls admitted just before the window finish inside it, hence a little over 1.0
    assert aggregate <= 1.1 * ideal
    assert min(done) / window >= 0.5 * fair
