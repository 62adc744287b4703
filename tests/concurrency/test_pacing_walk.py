"""How a header is read: the refill walked call by call, late answers, a changed limit.

A fake server bucket answers every call 1 s after it went out with the remaining it
computed when it admitted the call (whole requests, and the reset as a whole second),
as the API does. Everything runs on the injected clock with literal numbers.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import pytest

from stream.concurrency import HeadroomPacer, ManualClock, Reservation, TokenBucket

EPOCH = 1_750_000_000.0
TICK = 0.005
LATENCY = 1.0


class ServerBucket:
    """``rpm`` per minute held as one second (a per-minute limit enforced per second);
    a call finding less than one request is refused."""

    def __init__(self, clock: ManualClock, rpm: int) -> None:
        self._clock = clock
        self.rate = rpm / 60.0
        self.level = self.rate
        self._at = clock.now()
        self.refused = 0

    def admit(self) -> bool:
        now = self._clock.now()
        self.level = min(self.rate, self.level + (now - self._at) * self.rate)
        self._at = now
        if self.level < 1.0:
            self.refused += 1
            return False
        self.level -= 1.0
        return True

    def headers(self) -> dict[str, str]:
        full_at = math.ceil(EPOCH + self._clock.now() + (self.rate - self.level) / self.rate)
        reset = datetime.fromtimestamp(full_at, tz=UTC).isoformat().replace("+00:00", "Z")
        return {
            "anthropic-ratelimit-requests-limit": str(round(self.rate * 60)),
            "anthropic-ratelimit-requests-remaining": str(math.floor(self.level)),
            "anthropic-ratelimit-requests-reset": reset,
        }


async def _backlog(pacer: HeadroomPacer, clock: ManualClock, server: ServerBucket, s: float) -> int:
    """A backlog of calls through the pacer for ``s`` seconds (at most one per tick);
    returns how many it let out."""
    answers: list[tuple[float, Reservation, dict[str, str], bool]] = []
    pending: asyncio.Task[Reservation] | None = None
    sent = 0
    end = clock.now() + s
    while clock.now() < end:
        if pending is None:
            pending = asyncio.create_task(pacer.reserve(1, 1))
        await clock.run_for(0.0)
        if pending.done():
            reservation, pending = pending.result(), None
            pacer.mark_sent(reservation)
            admitted = server.admit()
            answers.append((clock.now() + LATENCY, reservation, server.headers(), admitted))
            sent += 1
        for answer in [a for a in answers if a[0] <= clock.now()]:
            answers.remove(answer)
            _, reservation, headers, admitted = answer
            pacer.observe_headers(headers, reservation, refused=not admitted)
            if not admitted:
                pacer.refused(reservation, rate_limited=True)
            pacer.reconcile(reservation, 1, 1)
        await clock.run_for(TICK)
    if pending is not None:
        pending.cancel()
    return sent


async def test_a_bucket_that_refills_in_one_round_trip_is_spent_at_its_refill() -> None:
    """600 RPM held as 10 requests and 1 s calls: a round trip refills the whole bucket,
    so the refill since a header's call is capped at the ceiling call by call, as the
    server's was. Capped once over the whole round trip it took about a request off
    every header: the pacer let out 9 a second where the server admits 10."""
    clock = ManualClock()
    server = ServerBucket(clock, 600)
    pacer = HeadroomPacer(clock, wall=lambda: EPOCH + clock.now(), send_skew_s=0.0, contended_s=0.0)
    await _backlog(pacer, clock, server, 2.0)  # unpaced until the first answer: 429s
    server.refused = 0
    sent = await _backlog(pacer, clock, server, 20.0)
    assert sent >= 0.98 * 10 * 20
    assert server.refused == 0


def test_a_limit_that_changes_keeps_the_interval_the_bucket_is_enforced_over() -> None:
    """A 1200 RPM bucket seen to hold 20 (one second) holds 50 when the limit goes back
    to 3000 RPM, not the whole minute: counting on 3000 sent a burst of 429s."""
    clock = ManualClock()
    bucket = TokenBucket(1200, 20.0, clock)
    bucket.sync(capacity=1200, refill_per_s=20.0, level=0.0, full_at=clock.now() + 2.0)
    assert bucket.ceiling == 20
    bucket.sync(capacity=3000, refill_per_s=50.0, level=10.0)
    assert bucket.ceiling == 50


async def test_an_answer_older_than_the_last_one_read_does_not_lift_the_pacer() -> None:
    """Two calls out 0.1 s apart; the newer one's answer (nothing left) is read first.
    The older one's answer arrives late with 40 left: it saw the bucket before calls we
    cannot take off (another worker's), so it is not adopted; what it saw the bucket
    hold still raises the ceiling."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, request_margin=0.0, send_skew_s=0.0)
    older = await pacer.reserve(1, 1)
    pacer.mark_sent(older)
    await clock.run_for(0.1)
    newer = await pacer.reserve(1, 1)
    pacer.mark_sent(newer)

    def headers(remaining: int) -> dict[str, str]:
        return {
            "anthropic-ratelimit-requests-limit": "3000",
            "anthropic-ratelimit-requests-remaining": str(remaining),
        }

    await clock.run_for(1.0)
    pacer.observe_headers(headers(0), newer)
    bucket = pacer.bucket("requests")
    assert bucket is not None
    after_newer = bucket.level
    pacer.observe_headers(headers(40), older)
    assert bucket.level == pytest.approx(after_newer)
    assert bucket.ceiling >= 41


async def test_a_shared_account_is_spent_in_a_spread_not_in_one_burst() -> None:
    """Told a third of the account and shown a full bucket of 48, the pacer counts 16 as
    its own and lets them out over a few tenths of a second (at least twice its share
    of the refill, faster while its part of the bucket is large), not in one instant: three
    workers each bursting their part at once collided when the answers came back."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, request_margin=0.0, send_skew_s=0.0)
    pacer.set_share(1 / 3, known=False)
    pacer.observe_headers(
        {
            "anthropic-ratelimit-requests-limit": "3000",
            "anthropic-ratelimit-requests-remaining": "48",
        }
    )
    released: list[float] = []

    async def one() -> None:
        await pacer.reserve(1, 1)
        released.append(clock.now())

    tasks = [asyncio.create_task(one()) for _ in range(16)]
    await clock.run_for(1.0, rounds=200)
    assert len(released) == 16 and all(t.done() for t in tasks)
    assert released[0] == 0.0
    assert 0.2 <= released[-1] <= 16 / (2 * 50 / 3)
