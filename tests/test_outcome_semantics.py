"""Outcome semantics live in one table (errors.py); the call path only reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from stream.calls import Caller, ModelControls
from stream.claude.types import CallRequest, CallResult
from stream.concurrency import CircuitBreaker, HeadroomPacer, Limiter, ManualClock
from stream.config import load_settings
from stream.errors import BreakerSignal, Disposition, FatalOutcome, Outcome, PermitSignal


def test_every_outcome_has_a_disposition_a_permit_signal_and_a_breaker_signal() -> None:
    for outcome in Outcome:
        semantics = outcome.semantics
        assert isinstance(semantics.disposition, Disposition), outcome
        assert isinstance(semantics.permit, PermitSignal), outcome
        assert isinstance(semantics.breaker, BreakerSignal), outcome


@dataclass
class _RecordingLimit:
    """A fixed limit that remembers which samples the limiter fed it."""

    samples: list[str] = field(default_factory=list)

    @property
    def limit(self) -> int:
        return 4

    @property
    def floor(self) -> int:  # at its floor: a 529 cannot be answered by a cut
        return 4

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
        self.samples.append(("overloaded" if overloaded else "dropped") if dropped else "success")
        return 4

    def raise_to(self, n: int) -> int:
        del n
        return 4

    def on_idle(self) -> int:
        return 4


class _RecordingBreaker(CircuitBreaker):
    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock, failure_threshold=1000)
        self.signals: list[str] = []

    def record_success(self) -> None:
        self.signals.append("success")

    def record_failure(self, *, after_failure: bool = False) -> None:
        self.signals.append("failure")

    def record_ignored(self) -> None:
        self.signals.append("ignored")


@dataclass
class _OnceThenSuccess:
    outcome: Outcome
    calls: int = 0

    async def call(self, request: CallRequest) -> CallResult:
        self.calls += 1
        if self.calls == 1:
            return CallResult(
                outcome=self.outcome,
                http_status=500,
                error_class="x",
                retry_after_s=0.0,
                model=request.model,
            )
        return CallResult(outcome=Outcome.SUCCESS, http_status=200, model=request.model)


_PERMIT_SAMPLE = {
    PermitSignal.SUCCESS: ["success"],
    PermitSignal.DROPPED: ["dropped"],
    PermitSignal.OVERLOADED: ["overloaded"],
    PermitSignal.IGNORED: [],
}


@pytest.mark.parametrize("outcome", list(Outcome))
async def test_the_caller_settles_permit_and_breaker_as_the_table_says(outcome: Outcome) -> None:
    """The limit is at its floor, so a FAILURE_AT_FLOOR outcome counts as a failure."""
    clock = ManualClock(auto_advance=True)
    values = {
        "limits.backoff_base_s": 0.001,
        "limits.backoff_max_s": 0.001,
        "limits.max_attempts": 5,
    }
    settings = load_settings(None, values)
    breaker = _RecordingBreaker(clock)
    client = _OnceThenSuccess(outcome)
    caller = Caller(client, settings.limits, clock, breaker=breaker)
    limit = _RecordingLimit()
    caller.controls["m"] = ModelControls(Limiter(limit, clock), HeadroomPacer(clock))
    request = CallRequest(model="m", system="s", user="u", max_tokens=10, document_id="d")
    if outcome.disposition is Disposition.STOP:  # the fatal gate shuts for good
        with pytest.raises(FatalOutcome):
            await caller.call(request)
    else:  # a spend cap's probe, after the pause, is the retry that succeeds
        await caller.call(request)
    second = ["success"] if client.calls == 2 else []  # a retry that then succeeded
    first_breaker = {BreakerSignal.FAILURE_AT_FLOOR: "failure"}.get(
        outcome.breaker, outcome.breaker.value
    )
    assert breaker.signals == [first_breaker, *second]
    assert limit.samples == [*_PERMIT_SAMPLE[outcome.permit], *second]
