"""The call path's retry policy, per outcome class (design.md section 5)."""

from __future__ import annotations

import pytest

from stream.calls import Caller
from stream.claude.types import CallRequest
from stream.concurrency import CircuitBreaker, GateState, MonotonicClock
from stream.config import load_settings
from stream.errors import FatalOutcome, Outcome
from tests.fakes import ScriptedClaude


def _caller(client: ScriptedClaude, **limits: object) -> Caller:
    values = {
        "limits.backoff_base_s": 0.001,
        "limits.backoff_max_s": 0.002,
        **{f"limits.{k}": v for k, v in limits.items()},
    }
    settings = load_settings(None, values)
    clock = MonotonicClock()
    breaker = CircuitBreaker(clock, failure_threshold=1000)
    return Caller(client, settings.limits, clock, breaker=breaker)


def _request(text: str, model: str = "claude-a", doc: str = "d1") -> CallRequest:
    return CallRequest(model=model, system="s", user=text, max_tokens=50, document_id=doc)


async def test_rate_limits_never_use_up_the_attempt_budget() -> None:
    """Three 429s with max_attempts=2 still end in success: never DLQ'd for rate limits."""
    client = ScriptedClaude()
    record = await _caller(client, max_attempts=2).call(_request("x <<rate_limited*3>>"))
    assert record.outcome is Outcome.SUCCESS
    assert record.attempts == 4


async def test_transient_failures_retry_then_exhaust_into_the_dlq() -> None:
    """Two 500s then success; five 500s with max_attempts=3 end as retries_exhausted."""
    caller = _caller(ScriptedClaude(), max_attempts=3)
    ok = await caller.call(_request("x <<transient*2>>"))
    assert (ok.outcome, ok.attempts) == (Outcome.SUCCESS, 3)
    failed = await caller.call(_request("y <<transient*5>>", doc="d2"))
    assert failed.outcome is Outcome.RETRIES_EXHAUSTED
    assert failed.attempts == 3
    assert failed.failure("summary").error_class == "api_error"


async def test_bad_request_goes_to_the_dlq_on_the_first_attempt() -> None:
    """A 400 is attempted exactly once."""
    client = ScriptedClaude()
    record = await _caller(client).call(_request("x <<bad_request>>"))
    assert record.outcome is Outcome.BAD_REQUEST
    assert len(client.calls) == 1


async def test_auth_outcome_shuts_the_fatal_gate_and_raises_instead_of_dead_lettering() -> None:
    """401 shuts the worker's fatal gate for good: the call raises FatalOutcome (it is not
    a document failure), and every later call does too without calling Claude."""
    client = ScriptedClaude()
    caller = _caller(client)
    with pytest.raises(FatalOutcome) as caught:
        await caller.call(_request("x <<auth>>"))
    assert caught.value.outcome is Outcome.AUTH
    assert caller.fatal_gate.state is GateState.CLOSED
    with pytest.raises(FatalOutcome):
        await caller.call(_request("fine", doc="d2"))
    assert len(client.calls) == 1


async def test_overloaded_calls_fall_back_to_the_fallback_model() -> None:
    """After fallback_after overloaded outcomes the call goes to the fallback model."""
    client = ScriptedClaude()
    record = await _caller(client, max_attempts=10).call(
        _request("x <<overloaded*2>>"), fallback_model="claude-b", fallback_after=2
    )
    assert record.outcome is Outcome.SUCCESS
    assert record.model == "claude-b"
    assert [c.model for c in client.calls] == ["claude-a", "claude-a", "claude-b"]
