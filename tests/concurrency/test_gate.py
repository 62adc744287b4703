"""The retry-after gate holds every call to a model until the server's time, plus jitter."""

from __future__ import annotations

import asyncio
import random

import pytest

from stream.concurrency import ManualClock, RetryAfterGate
from tests.concurrency.helpers import settle


async def test_gate_open_key_does_not_wait() -> None:
    """An unblocked key returns 0.0 at once."""
    gate = RetryAfterGate(ManualClock())
    assert await gate.wait("claude-sonnet") == 0.0
    assert gate.blocked_until("claude-sonnet") is None


async def test_gate_block_holds_every_waiter_until_retry_after() -> None:
    """Without jitter, three waiters all resume at exactly 5 s and report 5 s waited."""
    clock = ManualClock()
    gate = RetryAfterGate(clock, jitter=0.0)
    gate.block("m", 5.0)
    waiters = [asyncio.create_task(gate.wait("m")) for _ in range(3)]
    await clock.run_for(4.99)
    assert not any(w.done() for w in waiters)
    await clock.run_for(0.01)
    assert [w.result() for w in waiters] == [5.0, 5.0, 5.0]


async def test_gate_jitter_spreads_resumption_within_the_fraction() -> None:
    """jitter=0.5 on a 10 s block: 20 waiters resume at distinct times in [10, 15]."""
    clock = ManualClock()
    gate = RetryAfterGate(clock, jitter=0.5, rng=random.Random(7))
    gate.block("m", 10.0)
    waiters = [asyncio.create_task(gate.wait("m")) for _ in range(20)]
    await clock.run_for(15)
    waited = [w.result() for w in waiters]
    assert all(10.0 <= s <= 15.0 for s in waited)
    assert len(set(waited)) == 20


async def test_gate_retry_after_above_60_s_is_honoured() -> None:
    """A 120 s retry-after blocks for 120 s, not a capped 60."""
    clock = ManualClock()
    gate = RetryAfterGate(clock, jitter=0.0)
    gate.block("m", 120.0)
    assert gate.blocked_until("m") == 120.0
    waiter = asyncio.create_task(gate.wait("m"))
    await clock.run_for(119)
    assert not waiter.done()
    await clock.run_for(1)
    assert waiter.result() == 120.0


def test_gate_longer_block_extends_shorter_does_not_shorten() -> None:
    """10 s then 30 s: until 30; then 5 s: still 30; after it passes: open."""
    clock = ManualClock()
    gate = RetryAfterGate(clock)
    gate.block("m", 10)
    gate.block("m", 30)
    assert gate.blocked_until("m") == 30
    clock.advance(1)
    gate.block("m", 5)
    assert gate.blocked_until("m") == 30
    clock.advance(29)
    assert gate.blocked_until("m") is None


async def test_gate_extension_while_waiting_is_honoured() -> None:
    """A waiter for a 5 s block also waits out a 20 s block set at 3 s."""
    clock = ManualClock()
    gate = RetryAfterGate(clock, jitter=0.0)
    gate.block("m", 5)
    waiter = asyncio.create_task(gate.wait("m"))
    await clock.run_for(3)
    gate.block("m", 20)
    await clock.run_for(10)
    assert not waiter.done()
    await clock.run_for(10)
    assert waiter.result() == 23.0


async def test_gate_keys_are_independent() -> None:
    """Blocking one model leaves another open."""
    clock = ManualClock()
    gate = RetryAfterGate(clock)
    gate.block("opus", 60)
    assert await gate.wait("haiku") == 0.0
    blocked = asyncio.create_task(gate.wait("opus"))
    await settle()
    assert not blocked.done()
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked


def test_gate_rejects_bad_values() -> None:
    """NaN retry-after and a jitter outside [0, 1] raise; a negative block is none."""
    clock = ManualClock()
    with pytest.raises(ValueError):
        RetryAfterGate(clock, jitter=2.0)
    gate = RetryAfterGate(clock)
    with pytest.raises(ValueError):
        gate.block("m", float("nan"))
    gate.block("m", -3)
    assert gate.blocked_until("m") is None
