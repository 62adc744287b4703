"""A worker that shares its account: the headers show it before the 429s do.

A fake server bucket (3000 RPM held per second: 50 requests, 50/s) answers every call
0.5 s after it went out with the remaining it computed when it admitted the call, as the
API does. Everything runs on the injected clock with literal numbers.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

from stream.concurrency import HeadroomPacer, ManualClock
from stream.concurrency.pacing_share import HeaderPoint, RefillShare

EPOCH = 1_750_000_000.0
TICK = 0.005
LATENCY = 0.5


class ServerBucket:
    """50 requests, refilled at 50/s; a call finding less than one is refused."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self.level = 50.0
        self._at = clock.now()

    def admit(self) -> bool:
        now = self._clock.now()
        self.level = min(50.0, self.level + (now - self._at) * 50.0)
        self._at = now
        if self.level < 1.0:
            return False
        self.level -= 1.0
        return True

    def headers(self) -> dict[str, str]:
        """With the reset (when it is full again, whole seconds rounded up) that tells
        the pacer this bucket holds 50, not a minute's 3000."""
        full_in = math.ceil((50.0 - self.level) / 50.0)
        reset = datetime.fromtimestamp(EPOCH + self._clock.now() + full_in, tz=UTC)
        return {
            "anthropic-ratelimit-requests-limit": "3000",
            "anthropic-ratelimit-requests-remaining": str(math.floor(self.level)),
            "anthropic-ratelimit-requests-reset": reset.isoformat().replace("+00:00", "Z"),
        }


async def _run(
    pacer: HeadroomPacer,
    clock: ManualClock,
    server: ServerBucket,
    seconds: float,
    *,
    ours_every: float,
    others_per_s: float,
) -> int:
    """Our worker tries a call every ``ours_every`` s through the pacer (a backlog when
    that is faster than the pacer lets it); two other workers spend ``others_per_s``
    between them directly. Returns how many of our calls the pacer let out."""
    answers: list[tuple[float, object, dict[str, str], bool]] = []
    pending: asyncio.Task[object] | None = None
    sent = 0
    next_ours, next_other = clock.now(), clock.now()
    end = clock.now() + seconds
    while clock.now() < end:
        now = clock.now()
        while others_per_s > 0 and next_other <= now:
            server.admit()
            next_other += 1.0 / others_per_s
        if pending is None and next_ours <= now:
            pending = asyncio.create_task(pacer.reserve(1, 1))
            next_ours += ours_every
        await clock.run_for(0.0)
        if pending is not None and pending.done():
            reservation = pending.result()
            pending = None
            pacer.mark_sent(reservation)  # type: ignore[arg-type]
            admitted = server.admit()
            answers.append((now + LATENCY, reservation, server.headers(), admitted))
            sent += 1
        for answer in [a for a in answers if a[0] <= now]:
            answers.remove(answer)
            _, reservation, headers, admitted = answer
            pacer.observe_headers(headers, reservation)  # type: ignore[arg-type]
            if not admitted:
                pacer.refused(reservation, rate_limited=True)  # type: ignore[arg-type]
            pacer.reconcile(reservation, 1, 1)  # type: ignore[arg-type]
        await clock.run_for(TICK)
    if pending is not None:
        pending.cancel()
    return sent


def _pacer(clock: ManualClock, share: RefillShare | None = None) -> HeadroomPacer:
    return HeadroomPacer(
        clock, wall=lambda: EPOCH + clock.now(), refill_share=share, contended_s=0.0
    )


async def test_a_lone_worker_counts_the_whole_refill_as_its_own() -> None:
    """Alone at 40/s, then at the pacer's pace (a backlog): the headers are explained by
    our own calls, the share stays 1 and the pacer lets out the full 50/s."""
    clock = ManualClock()
    server = ServerBucket(clock)
    pacer = _pacer(clock)
    await _run(pacer, clock, server, 3.0, ours_every=0.025, others_per_s=0)
    assert pacer.share == 1.0
    sent = await _run(pacer, clock, server, 4.0, ours_every=0.01, others_per_s=0)
    assert pacer.share == 1.0
    assert sent >= 4.0 * 50 * 0.95


async def test_two_other_spenders_show_in_the_headers_and_the_pacer_keeps_its_share() -> None:
    """Two others spend 30 of the 50/s: the remaining falls short of what our own calls
    explain, the share drops to about 20/50, and over 4 s the pacer lets out no more
    than that share of the refill (with the whole refill counted it let out ~50/s)."""
    clock = ManualClock()
    server = ServerBucket(clock)
    pacer = _pacer(clock)
    await _run(pacer, clock, server, 4.0, ours_every=0.01, others_per_s=30)
    assert 0.2 <= pacer.share <= 0.55
    sent = await _run(pacer, clock, server, 4.0, ours_every=0.01, others_per_s=30)
    assert sent <= 4.0 * 20 * 1.25


async def test_with_the_share_disabled_the_same_account_is_overspent() -> None:
    """The same run with a share that never sees the others (the mechanism off): the
    pacer lets out well above the 20/s that are left, so the test above would fail."""
    clock = ManualClock()
    server = ServerBucket(clock)
    pacer = _pacer(clock, RefillShare(alone_fraction=math.inf))
    await _run(pacer, clock, server, 4.0, ours_every=0.01, others_per_s=30)
    sent = await _run(pacer, clock, server, 4.0, ours_every=0.01, others_per_s=30)
    assert pacer.share == 1.0 and sent > 4.0 * 20 * 1.25


def test_a_lone_worker_whose_calls_are_admitted_late_keeps_the_whole_refill() -> None:
    """A burst queued in the client: the reference call (sent at 0) reached the server
    0.15 s late, so its ``remaining`` (10) already held 7.5 requests of refill that the
    send times do not show. One second and 40 of our calls later the server says 12
    where send times alone explain 20: 8 a second read as others' spend, which took a
    lone worker's share to 0.83. Within the admission skew allowed, it stays 1."""
    share = RefillShare()
    ours = [i / 40 for i in range(1, 41)]  # our calls, the last one answered below

    def sent_between(after: float, until: float) -> list[float]:
        return [t for t in ours if after < t <= until]

    share.observe(HeaderPoint(0.0, 10.0, 3000.0), sent_between, 50.0, 50.0)
    share.observe(HeaderPoint(1.0, 12.0, 3000.0), sent_between, 50.0, 50.0)
    assert share.share(50.0) == 1.0
