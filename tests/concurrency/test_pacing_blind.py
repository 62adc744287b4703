"""The pacer before the first answer: only ``blind_reservations`` calls go out unpaced."""

from __future__ import annotations

import asyncio

from stream.concurrency import HeadroomPacer, ManualClock
from tests.concurrency.helpers import settle


async def test_blind_pacer_holds_reservations_beyond_the_cap_until_an_answer() -> None:
    """Cap 2: two reserve at once, the third waits; the first answer's headers pace it."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, blind_reservations=2, send_skew_s=0.0)
    first = await pacer.reserve(10, 10)
    await pacer.reserve(10, 10)
    third = asyncio.create_task(pacer.reserve(10, 10))
    await settle()
    assert not third.done()
    # The first answer: 60 RPM, nothing left -> the third waits for the refill (1/s).
    pacer.observe_headers(
        {"anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0"},
        first,
    )
    await settle()
    assert not third.done()
    assert pacer.bucket("requests") is not None
    clock.advance(3.0)
    await settle()
    assert third.done()


async def test_blind_pacer_stops_waiting_when_answers_carry_no_budget() -> None:
    """A server without rate-limit headers: after the first answer nothing is held back."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, blind_reservations=1)
    first = await pacer.reserve(10, 10)
    second = asyncio.create_task(pacer.reserve(10, 10))
    await settle()
    assert not second.done()
    pacer.observe_headers({"request-id": "req_1"}, first)
    pacer.reconcile(first, 10, 5)
    await settle()
    assert second.done()
    more = [await pacer.reserve(10, 10) for _ in range(20)]  # no cap once informed
    assert len(more) == 20 and pacer.outstanding == 21


async def test_pacer_without_a_cap_reserves_everything_blind() -> None:
    """The default (None) keeps the old behaviour: unknown buckets never pace."""
    pacer = HeadroomPacer(ManualClock())
    reservations = [await pacer.reserve(10, 10) for _ in range(50)]
    assert len(reservations) == 50
