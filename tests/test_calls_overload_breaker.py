"""529s and the circuit breaker: congestion for an adaptive limit, sickness at its floor."""

from __future__ import annotations

from stream.calls import Caller
from stream.claude.types import CallRequest
from stream.concurrency import BreakerState, CircuitBreaker, MonotonicClock
from stream.config import load_settings
from stream.errors import Outcome
from tests.fakes import ScriptedClaude


def _caller(**limits: object) -> Caller:
    values = {
        "limits.backoff_base_s": 0.001,
        "limits.backoff_max_s": 0.002,
        "limits.max_attempts": 50,
        **{f"limits.{k}": v for k, v in limits.items()},
    }
    settings = load_settings(None, values)
    clock = MonotonicClock()
    breaker = CircuitBreaker(clock, failure_threshold=3, open_s=60.0)
    return Caller(ScriptedClaude(), settings.limits, clock, breaker=breaker)


def _request(text: str) -> CallRequest:
    return CallRequest(model="claude-a", system="s", user=text, max_tokens=50, document_id="d")


async def test_overloads_above_the_floor_do_not_open_the_breaker() -> None:
    """Five 529s in a row with an AIMD limit of 64: the limit is cut, the breaker stays shut."""
    caller = _caller(algorithm="aimd", initial_concurrency=64)
    record = await caller.call(_request("x <<overloaded*5>>"))
    assert record.outcome is Outcome.SUCCESS
    assert caller.breaker.state is BreakerState.CLOSED
    assert caller.controls["claude-a"].limiter.limit < 64


async def test_overloads_at_the_floor_open_the_breaker() -> None:
    """With the limit already at its minimum, 529s are the server's sickness: it opens."""
    caller = _caller(algorithm="aimd", initial_concurrency=1, min_concurrency=1, max_attempts=3)
    record = await caller.call(_request("x <<overloaded*3>>"))
    assert record.outcome is Outcome.RETRIES_EXHAUSTED
    assert caller.breaker.state is BreakerState.OPEN


async def test_overloads_with_a_fixed_limit_open_the_breaker() -> None:
    """A fixed limit cannot answer 529s by cutting, so they count against the breaker."""
    caller = _caller(algorithm="fixed", initial_concurrency=32, max_attempts=3)
    record = await caller.call(_request("x <<overloaded*3>>"))
    assert record.outcome is Outcome.RETRIES_EXHAUSTED
    assert caller.breaker.state is BreakerState.OPEN
