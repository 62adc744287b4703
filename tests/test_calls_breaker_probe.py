"""Documents the server always fails, and the circuit breaker: their repeat failures do
not count, and its half-open probe is a fresh document when one waits."""

from __future__ import annotations

import asyncio

from stream.calls import Caller, CallRecord
from stream.claude.types import CallRequest
from stream.concurrency import BreakerState, CircuitBreaker, ManualClock
from stream.config import load_settings
from stream.errors import Outcome
from tests.fakes import ScriptedClaude


def _request(text: str, doc: str) -> CallRequest:
    return CallRequest(model="claude-a", system="s", user=text, max_tokens=50, document_id=doc)


async def test_documents_the_server_always_fails_do_not_hold_the_breaker_open() -> None:
    """Three documents that always get a 500 open the breaker (threshold 3); three good
    ones arrive while it is open. At half-open a good one is the probe and closes it,
    and the bad ones' retries, failing again, do not open it a second time (their
    retry as the probe reopened it for 60 s, then 120 s: the chaos suite's DLQ replay)."""
    clock = ManualClock(auto_advance=True)
    breaker = CircuitBreaker(clock, failure_threshold=3, open_s=30.0)
    seen: list[BreakerState] = []
    opened = asyncio.Event()
    breaker.on_transition.append(lambda old, new: (seen.append(new), opened.set()))
    values = {"limits.max_attempts": 3, "limits.backoff_base_s": 0.01}
    caller = Caller(ScriptedClaude(), load_settings(None, values).limits, clock, breaker=breaker)

    def call(text: str, doc: str) -> asyncio.Task[CallRecord]:
        return asyncio.create_task(caller.call(_request(text, doc)))

    bad = [call(f"bad {i} <<transient*99>>", f"bad{i}") for i in range(3)]
    await opened.wait()
    good = [call(f"good {i}", f"good{i}") for i in range(3)]
    records = await asyncio.gather(*bad, *good)

    assert [r.outcome for r in records] == [Outcome.RETRIES_EXHAUSTED] * 3 + [Outcome.SUCCESS] * 3
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]
    assert clock.now() < 31.0
