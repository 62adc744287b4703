"""The fatal gate: every call held, one probe per pause interval, one change per state."""

from __future__ import annotations

import asyncio

import pytest

from stream.concurrency import (
    FatalGate,
    GateChange,
    GateShut,
    GateState,
    ManualClock,
    clock_timeout,
)


def _gate(clock: ManualClock, changes: list[GateChange]) -> FatalGate:
    return FatalGate(clock, pause_s=10.0, on_change=[changes.append])


async def test_a_closed_gate_lets_one_probe_through_per_pause_interval() -> None:
    clock = ManualClock()
    changes: list[GateChange] = []
    gate = _gate(clock, changes)
    gate.close("spend_cap", "cap", probe=True, was_probe=False)
    waiters = [asyncio.create_task(gate.wait()) for _ in range(5)]
    await clock.run_for(9.0)
    assert not any(w.done() for w in waiters)
    await clock.run_for(1.0)
    probes = [w for w in waiters if w.done()]
    assert [w.result() for w in probes] == [True]  # exactly one, and it knows it
    gate.close("spend_cap", "cap", probe=True, was_probe=True)  # the probe failed
    await clock.run_for(9.9)
    assert len([w for w in waiters if w.done()]) == 1
    await clock.run_for(0.1)
    assert len([w for w in waiters if w.done()]) == 2
    gate.reopen()  # the second probe got an answer
    await clock.run_for(0.0)
    assert all(w.done() for w in waiters)
    assert [c.state for c in changes] == [
        GateState.CLOSED,
        GateState.PROBING,
        GateState.CLOSED,
        GateState.PROBING,
        GateState.OPEN,
    ]


async def test_calls_that_meet_the_outcome_while_closed_are_counted_not_announced() -> None:
    clock = ManualClock()
    changes: list[GateChange] = []
    gate = _gate(clock, changes)
    for _ in range(4):
        gate.close("spend_cap", "cap", probe=True, was_probe=False)
    assert len(changes) == 1
    await clock.run_for(10.0)
    assert await gate.wait() is True
    gate.close("spend_cap", "cap", probe=True, was_probe=True)
    assert changes[-1].repeats == 3


async def test_a_shut_gate_refuses_every_call_and_an_abandoned_probe_is_replaced() -> None:
    clock = ManualClock()
    gate = _gate(clock, [])
    waiter = asyncio.create_task(gate.wait())
    gate.close("auth", "bad key", probe=True, was_probe=False)
    await clock.run_for(10.0)
    assert await waiter is True
    gate.close("auth", "bad key", probe=False, was_probe=True)  # shut for good
    await clock.run_for(1000.0)
    with pytest.raises(GateShut, match="auth: bad key"):
        await gate.wait()

    spend = _gate(clock, [])
    spend.close("spend_cap", "cap", probe=True, was_probe=False)
    await clock.run_for(10.0)
    assert await spend.wait() is True
    spend.abandon()  # the probe was cancelled before its answer
    assert await spend.wait() is True


async def test_clock_timeout_cancels_the_block_on_the_injected_clock() -> None:
    clock = ManualClock(auto_advance=True)
    with pytest.raises(TimeoutError):
        async with clock_timeout(clock, 30.0):
            await asyncio.Event().wait()
    assert clock.now() == 30.0
    async with clock_timeout(clock, 30.0) as scope:
        await clock.sleep(5.0)
    assert not scope.expired
