"""Who waits out a 429's retry-after: the refused call alone when its own headers show
the bucket that refused it (the pacer meters the others), every call to the model when
nothing in the headers explains it."""

from __future__ import annotations

import asyncio
import random

from stream.calls import Caller
from stream.claude.types import CallRequest, CallResult
from stream.concurrency import CircuitBreaker, ManualClock
from stream.config import load_settings
from stream.errors import Outcome
from tests.fakes import answered, refused


class OneRefusal:
    """Refuses the first call with a 429 (retry-after 1 s) whose headers say
    ``remaining_then`` requests remain of 3000 RPM; answers every other call at once."""

    def __init__(self, clock: ManualClock, remaining_then: int) -> None:
        self.clock = clock
        self.remaining_then = remaining_then
        self.arrivals: list[tuple[float, str]] = []  # (clock time, document id)

    def _headers(self, remaining: int) -> dict[str, str]:
        return {
            "anthropic-ratelimit-requests-limit": "3000",
            "anthropic-ratelimit-requests-remaining": str(remaining),
        }

    async def call(self, request: CallRequest) -> CallResult:
        self.arrivals.append((self.clock.now(), request.document_id))
        if len(self.arrivals) == 1:
            return refused(request.model, self._headers(self.remaining_then))
        return answered(request.model, self._headers(40), 0.0)

    async def count_tokens(self, request: CallRequest) -> int:
        return 10

    async def aclose(self) -> None:
        return None


async def _two_calls(remaining_then: int) -> dict[str, float]:
    """Document "a" is refused; "b" starts just after. When each reached the server last."""
    clock = ManualClock()
    server = OneRefusal(clock, remaining_then)
    settings = load_settings(None, {"limits.ramp_start": 1})
    breaker = CircuitBreaker(clock, failure_threshold=1000)
    caller = Caller(server, settings.limits, clock, breaker=breaker, rng=random.Random(1))

    def request(doc: str) -> CallRequest:
        return CallRequest(model="m", system="s", user="u", max_tokens=50, document_id=doc)

    first = asyncio.create_task(caller.call(request("a")))
    await clock.run_for(0.001)
    second = asyncio.create_task(caller.call(request("b")))
    while not (first.done() and second.done()):
        await clock.run_for(0.01)
    assert first.result().outcome is second.result().outcome is Outcome.SUCCESS
    return {doc: at for at, doc in server.arrivals}


async def test_a_429_its_headers_explain_holds_only_the_refused_call() -> None:
    """The 429 says 0 requests remain: the pacer syncs to that and lets the next call go
    as soon as the refill covers it (a few tens of ms at 50/s), while the refused call
    itself waits its whole retry-after (1 s, plus up to 10 % jitter)."""
    sent = await _two_calls(remaining_then=0)
    assert sent["b"] < 0.2
    assert 1.0 <= sent["a"] <= 1.15


async def test_a_429_its_headers_do_not_explain_holds_every_call_to_the_model() -> None:
    """The 429 says 40 requests remain (an acceleration limit, or one not advertised):
    nothing the pacer mirrors explains it, so every call waits out the retry-after."""
    sent = await _two_calls(remaining_then=40)
    assert sent["b"] >= 1.0
    assert sent["a"] >= 1.0
