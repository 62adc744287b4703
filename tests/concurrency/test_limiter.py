"""The permit pool: blocking, FIFO order, exactly-once settlement, cancellation safety."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from stream.concurrency import AIMDLimit, FixedLimit, Limiter, ManualClock, Permit, PermitOutcome
from tests.concurrency.helpers import settle


@dataclass
class RecordingLimit:
    """A Limit fake that records samples and whose value the test sets."""

    value: int = 2
    samples: list[dict[str, object]] = field(default_factory=list)
    idles: int = 0

    @property
    def limit(self) -> int:
        return self.value

    def on_sample(
        self,
        *,
        now: float,
        rtt: float,
        inflight: int,
        dropped: bool,
        output_tokens: int | None = None,
        ttft: float | None = None,
        overloaded: bool = False,
    ) -> int:
        self.samples.append(
            {
                "overloaded": overloaded,
                "now": now,
                "rtt": rtt,
                "inflight": inflight,
                "dropped": dropped,
                "output_tokens": output_tokens,
                "ttft": ttft,
            }
        )
        return self.value

    def raise_to(self, n: int) -> int:
        self.value = max(self.value, n)
        return self.value

    def on_idle(self) -> int:
        self.idles += 1
        return self.value


async def test_limiter_blocks_at_the_limit_until_a_release() -> None:
    """With limit 2, the third acquire waits until one of the two is settled."""
    limiter = Limiter(FixedLimit(2), ManualClock())
    first = await limiter.acquire()
    await limiter.acquire()
    third = asyncio.create_task(limiter.acquire())
    await settle()
    assert not third.done()
    assert (limiter.inflight, limiter.waiting) == (2, 1)
    first.success()
    await settle()
    assert third.done()
    assert (limiter.inflight, limiter.waiting) == (2, 0)
    third.result().ignored()


async def test_limiter_wakes_waiters_first_come_first_served() -> None:
    """Waiters queued as a, b, c get the single slot in that order."""
    limiter = Limiter(FixedLimit(1), ManualClock())
    holder = await limiter.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        permit = await limiter.acquire()
        order.append(name)
        await asyncio.sleep(0)
        permit.success()

    tasks = []
    for name in "abc":
        tasks.append(asyncio.create_task(take(name)))
        await settle(2)
    assert limiter.waiting == 3
    holder.success()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert limiter.inflight == 0


async def test_limiter_try_acquire_never_jumps_the_queue() -> None:
    """try_acquire returns None at the limit and while anyone is waiting."""
    limiter = Limiter(FixedLimit(1), ManualClock())
    holder = limiter.try_acquire()
    assert holder is not None
    assert limiter.try_acquire() is None
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    holder.ignored()  # the slot goes straight to the waiter
    assert limiter.try_acquire() is None
    (await waiter).ignored()
    assert limiter.try_acquire() is not None


async def test_permit_settles_exactly_once() -> None:
    """A second settlement raises and does not release the slot twice."""
    limit = RecordingLimit(value=5)
    limiter = Limiter(limit, ManualClock())
    permit = await limiter.acquire()
    await limiter.acquire()
    permit.success()
    for settle_again in (permit.success, permit.dropped, permit.ignored):
        with pytest.raises(RuntimeError):
            settle_again()
    assert limiter.inflight == 1
    assert len(limit.samples) == 1
    assert permit.outcome is PermitOutcome.SUCCESS


async def test_limiter_cancelled_waiter_takes_no_slot() -> None:
    """Cancel a queued waiter: it leaves the queue and the next release frees a slot."""
    limiter = Limiter(FixedLimit(1), ManualClock())
    holder = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.waiting == 0
    holder.success()
    assert limiter.inflight == 0
    assert limiter.try_acquire() is not None


async def test_limiter_waiter_cancelled_after_grant_gives_the_slot_back() -> None:
    """Granted and cancelled before it ran: the permit is returned and passed on."""
    limit = RecordingLimit(value=1)
    limiter = Limiter(limit, ManualClock())
    holder = await limiter.acquire()
    unlucky = asyncio.create_task(limiter.acquire())
    await settle()
    behind = asyncio.create_task(limiter.acquire())
    await settle()
    holder.success()  # grants the slot to `unlucky`...
    unlucky.cancel()  # ...which is cancelled before it can resume
    with pytest.raises(asyncio.CancelledError):
        await unlucky
    permit = await behind
    assert limiter.inflight == 1
    assert len(limit.samples) == 1  # the returned permit was ignored: no sample
    permit.ignored()
    assert limiter.inflight == 0


async def test_limiter_growing_limit_wakes_several_waiters() -> None:
    """AIMD 2 -> 3 on a success while one permit is held: both waiters get in."""
    limiter = Limiter(AIMDLimit(initial=2, min_limit=1, max_limit=10), ManualClock())
    first = await limiter.acquire()
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
    await settle()
    assert limiter.waiting == 2
    first.success()  # inflight 2 * 2 >= 2: limit 3, inflight 1
    await settle()
    assert limiter.limit == 3
    assert all(w.done() for w in waiters)
    assert limiter.inflight == 3


async def test_limiter_shrinking_limit_holds_new_grants() -> None:
    """A drop cuts 10 -> 9 with 10 in flight: releases refill only up to 9."""
    limiter = Limiter(AIMDLimit(initial=10, min_limit=1, max_limit=10), ManualClock())
    permits = [await limiter.acquire() for _ in range(10)]
    waiter = asyncio.create_task(limiter.acquire())
    permits[0].dropped()
    await settle()
    assert (limiter.limit, limiter.inflight) == (9, 9)
    assert not waiter.done()
    permits[1].ignored()
    await settle()
    assert waiter.done()
    assert limiter.inflight == 9


async def test_permit_sample_measures_rtt_from_grant_with_the_clock() -> None:
    """Waiting 3 s is not RTT; 2.5 s held is. Tokens, TTFT, inflight, drop (and whether
    it was a 529) are passed on."""
    clock = ManualClock()
    limit = RecordingLimit(value=1)
    limiter = Limiter(limit, clock)
    holder = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    clock.advance(3)
    holder.dropped(overloaded=True)
    permit = await waiter
    clock.advance(2.5)
    permit.success(output_tokens=120, ttft=0.4)
    assert limit.samples == [
        {
            "overloaded": True,
            "now": 3.0,
            "rtt": 3.0,
            "inflight": 1,
            "dropped": True,
            "output_tokens": None,
            "ttft": None,
        },
        {
            "overloaded": False,
            "now": 5.5,
            "rtt": 2.5,
            "inflight": 1,
            "dropped": False,
            "output_tokens": 120,
            "ttft": 0.4,
        },
    ]


async def test_permit_ignored_feeds_no_sample() -> None:
    """ignored() frees the slot and the Limit hears nothing."""
    limit = RecordingLimit()
    limiter = Limiter(limit, ManualClock())
    (await limiter.acquire()).ignored()
    assert limit.samples == []
    assert limiter.inflight == 0


async def test_limiter_on_change_hears_only_real_changes() -> None:
    """Listeners get (old, new) when the limit moves, and nothing when it doesn't."""
    changes: list[tuple[int, int]] = []
    limiter = Limiter(
        AIMDLimit(initial=10, min_limit=1, max_limit=100),
        ManualClock(),
        on_change=[lambda old, new: changes.append((old, new))],
    )
    (await limiter.acquire()).success()  # inflight 1 of 10: no growth
    (await limiter.acquire()).dropped()
    assert changes == [(10, 9)]


async def test_acquire_permit_releases_as_ignored_when_the_body_raises() -> None:
    """An exception inside `async with` settles the permit as ignored, then propagates."""
    limit = RecordingLimit()
    limiter = Limiter(limit, ManualClock())
    seen: list[Permit] = []
    with pytest.raises(KeyError):
        async with limiter.acquire_permit() as permit:
            seen.append(permit)
            raise KeyError("boom")
    assert seen[0].outcome is PermitOutcome.IGNORED
    assert limiter.inflight == 0
    assert limit.samples == []


async def test_acquire_permit_keeps_the_bodys_settlement() -> None:
    """A body that calls success() is not settled a second time on exit."""
    limit = RecordingLimit()
    limiter = Limiter(limit, ManualClock())
    async with limiter.acquire_permit() as permit:
        permit.success(output_tokens=3)
    assert permit.outcome is PermitOutcome.SUCCESS
    assert len(limit.samples) == 1
    async with limiter.acquire_permit() as forgotten:
        pass
    assert forgotten.outcome is PermitOutcome.IGNORED
    assert limiter.inflight == 0


async def test_the_limit_hears_idle_when_the_last_call_ends_and_nobody_waits() -> None:
    recording = RecordingLimit(value=1)
    limiter = Limiter(recording, ManualClock())
    first = await limiter.acquire()
    second = asyncio.create_task(limiter.acquire())
    await settle()
    first.success()  # the waiter takes the slot: not idle
    permit = await second
    assert recording.idles == 0
    permit.success()
    assert recording.idles == 1
