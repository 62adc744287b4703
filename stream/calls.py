"""One Claude call for one stage, with everything that keeps it polite and alive.

Per attempt, in this order: the worker's fatal gate (open, or this call is its probe),
the circuit breaker (closed or a half-open probe), the model's retry-after gate, the
headroom pacer (reserve an estimate against the server-advertised budgets), a permit
from the model's adaptive limiter, the call. The classified outcome then settles the
permit (congestion = drop), reconciles the pacer with the real usage, feeds the breaker
(a 529 only once an adaptive limit is at its floor: before that, cutting the limit is
the answer), and decides: done, DLQ, back off and retry, or (spend cap, auth, unknown
model) close the fatal gate and wait there to try the same attempt again. Rate-limited
attempts never use up the attempt budget or the deadline: a document is never
dead-lettered for rate limiting alone (design.md section 5).

A 429 whose own rate-limit headers show an advertised bucket short of what the call
asked is the pacer's to meter: it has just synced to those headers and holds the other
calls until the refill covers them, while the refused call waits out its retry-after
alone. Any other 429 (an acceleration limit, a limit the headers do not advertise)
closes the model's retry-after gate for every call. The API gives retry-after in whole
seconds: on a 3000 RPM account enforced per second, gating the whole worker for each
explained 429 left the account idle for a second, 50 requests, each time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from stream.caching.expect import CacheExpectation
from stream.cap_sharing import CapShares
from stream.claude.cost import Cost, cost_of
from stream.claude.types import CallRequest, CallResult, ClaudeClient
from stream.concurrency import (
    LOWEST,
    CircuitBreaker,
    Clock,
    FatalGate,
    GateShut,
    HeadroomPacer,
    Limit,
    LimitBounds,
    Limiter,
    Permit,
    Priority,
    Reservation,
    RetryAfterGate,
    SpendBudget,
    SpendHold,
    backoff_delay,
    build_limit,
    retry_after_delay,
    short_bucket,
    sleep_or_event,
)
from stream.config import LimitsSettings, ModelPrice
from stream.errors import (
    BreakerSignal,
    CallsStopped,
    Disposition,
    Failure,
    FatalOutcome,
    Outcome,
    PermitSignal,
)
from stream.models.result import Usage
from stream.observers import CallObserver, NullCallObserver

__all__ = ["CallRecord", "Caller", "ModelControls", "make_limit"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Outcomes that hold every call at the fatal gate instead of failing the document.
_HELD = (Disposition.PAUSE, Disposition.STOP)

# A 429 without retry-after still has to wait for something.
_DEFAULT_RETRY_AFTER_S = 1.0


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The final attempt of a stage call and the history that led to it."""

    final: CallResult
    outcome: Outcome  # SUCCESS/TRUNCATED, or the outcome that sends the document to the DLQ
    attempts: int
    model: str
    first_failure_at: datetime | None
    last_failure_at: datetime | None
    usage: Usage = field(default_factory=Usage)  # every billed attempt, summed
    cost: Cost = field(default_factory=Cost)  # priced once per attempt, as billed

    def failure(self, stage: str, outcome: Outcome | None = None) -> Failure:
        now = datetime.now(UTC)
        final = self.final
        return Failure(
            outcome=outcome or self.outcome,
            error_class=final.error_class or (outcome or self.outcome).value,
            message=final.error_message or (outcome or self.outcome).value,
            first_failure_at=self.first_failure_at or now,
            last_failure_at=self.last_failure_at or now,
            http_status=final.http_status,
            request_id=final.request_id,
            stage=stage,
            model=self.model,
            attempts=self.attempts,
        )


def make_limit(limits: LimitsSettings) -> Limit:
    bounds = LimitBounds(limits.initial_concurrency, limits.min_concurrency, limits.max_concurrency)
    return build_limit(limits.algorithm, bounds)


@dataclass(slots=True)
class ModelControls:
    limiter: Limiter
    pacer: HeadroomPacer


@dataclass(frozen=True, slots=True)
class _Try:
    """One attempt of a call: its number, its place among waiters, and whether the
    document has already failed (not counting 429s), which the breaker weighs less."""

    number: int
    priority: Priority
    after_failure: bool


class Caller:
    """Calls Claude for stages; owns the per-model limiters and pacers, the gate, the breaker."""

    def __init__(
        self,
        client: ClaudeClient,
        limits: LimitsSettings,
        clock: Clock,
        *,
        breaker: CircuitBreaker,
        observer: CallObserver | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        rng: random.Random | None = None,
        client_ready: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._client = client
        # Waited for before a call takes any budget: a blind ramp whose clock ran while
        # the client was still being built (1.8-2 s after the join with a 2 s session)
        # let every call its doublings allowed out at once when it was ready.
        self._client_ready = client_ready
        self._limits = limits
        self._clock = clock
        self._rng = rng or random.Random()
        self.breaker = breaker
        self.gate = RetryAfterGate(clock, rng=self._rng)
        self.fatal_gate = FatalGate(clock, pause_s=limits.pause_on_fatal_s)
        self._calls_stopped = False
        self._stopping = asyncio.Event()
        self.controls: dict[str, ModelControls] = {}
        self.cap_shares = CapShares(lambda: {m: c.limiter for m, c in self.controls.items()})
        self._partition_share = 1.0  # k of the group's P partitions
        self._board_share: float | None = None  # of the group's backlog, when told
        self.outcomes: Counter[Outcome] = Counter()  # every attempt's outcome
        self._observer = observer or NullCallObserver()
        self._prices = prices or {}
        self.cache_expect = CacheExpectation(clock.now)  # prefixes likely read, not reserved
        self.spend = SpendBudget(
            clock, {"hour": limits.budget_usd_per_hour, "day": limits.budget_usd_per_day}
        )

    def controls_for(self, model: str) -> ModelControls:
        found = self.controls.get(model)
        if found is None:
            found = ModelControls(
                limiter=Limiter(make_limit(self._limits), self._clock),
                pacer=HeadroomPacer(
                    self._clock,
                    blind_reservations=self._limits.ramp_start,
                    blind_doubling_s=self._limits.ramp_doubling_s,
                    blind_max=self._limits.max_concurrency,
                    # A lone worker's 429 is its own reading (a late admission), not
                    # others: with the refill since a header not counted for 10 s, one
                    # 429 ran the pacer 44 requests short and a job at half speed for 2 s.
                    # Others show in the headers (the share) instead.
                    contended_s=0.0,
                ),
            )
            fraction, known = self._share()
            found.pacer.set_share(fraction, known=known)
            self.controls[model] = found
        return found

    def set_share_hint(self, fraction: float) -> None:
        """The part of the account this worker expects to spend before the headers show
        the others: k of the group's P input partitions. Every pacer starts from it."""
        self._partition_share = fraction
        self._apply_share()

    def set_board_share(self, fraction: float | None) -> None:
        """This worker's part of the group's backlog (``stream.backlog_board``), which
        holds as told; None (nothing to do) goes back to the partitions' hint, the best
        guess at the next job's split."""
        self._board_share = fraction
        self._apply_share()

    def _share(self) -> tuple[float, bool]:
        if self._board_share is None:
            return self._partition_share, False
        return self._board_share, True

    def _apply_share(self) -> None:
        fraction, known = self._share()
        for controls in self.controls.values():
            controls.pacer.set_share(fraction, known=known)

    async def call(
        self,
        request: CallRequest,
        *,
        fallback_model: str | None = None,
        fallback_after: int = 2,
        priority: Priority = LOWEST,
    ) -> CallRecord:
        """Attempts until done or dead-lettered. A spend cap holds it at the fatal gate,
        then the same attempt goes again; auth or an unknown model shut the gate and
        raise FatalOutcome. ``priority`` orders this call among waiters for pacing and
        permits (lowest first)."""
        deadline = self._clock.now() + self._limits.document_deadline_s
        attempts = counted = overloaded = 0
        first_fail: datetime | None = None
        last_fail: datetime | None = None
        usage, cost = Usage(), Cost()
        while True:
            use = request
            if fallback_model and overloaded >= fallback_after:
                use = replace(request, model=fallback_model)
            attempts += 1
            attempt = _Try(attempts, priority, after_failure=counted > 0)
            result, billed = await self._attempt(use, attempt)
            if billed is not None:
                usage, cost = usage + result.usage, cost + billed
            disposition = result.outcome.disposition
            if disposition is Disposition.DONE:
                return CallRecord(
                    result, result.outcome, attempts, use.model, first_fail, last_fail, usage, cost
                )
            now_wall = datetime.now(UTC)
            first_fail = first_fail or now_wall
            last_fail = now_wall
            if disposition in _HELD:
                continue  # the fatal gate holds the next attempt (or says it is shut)
            record = CallRecord(
                result, result.outcome, attempts, use.model, first_fail, last_fail, usage, cost
            )
            if disposition is Disposition.DEAD_LETTER:
                return record
            if result.outcome is Outcome.OVERLOADED:
                overloaded += 1
            if result.outcome is not Outcome.RATE_LIMITED:
                counted += 1
                if counted >= self._limits.max_attempts or self._clock.now() >= deadline:
                    return replace(record, outcome=Outcome.RETRIES_EXHAUSTED)
            await self._back_off(counted, result, use.model)

    async def _waiting(self, kind: str, model: str, wait: Awaitable[_T]) -> _T:
        with self._observer.waiting(kind, model):
            return await wait

    def stop_new_calls(self) -> None:
        """Drain: calls in flight finish; every attempt not yet sent raises CallsStopped
        (when it reaches the front of its waits, or at once if it starts now)."""
        self._calls_stopped = True
        self._stopping.set()  # backoffs end now
        self.fatal_gate.release()  # waiters held by a spend cap end now, not at the deadline
        self.gate.release()  # and those waiting out a 429's retry-after

    def _check_calls_allowed(self) -> None:
        if self._calls_stopped:
            raise CallsStopped("draining: no new Claude call")

    async def _attempt(self, request: CallRequest, attempt: _Try) -> tuple[CallResult, Cost | None]:
        """One attempt and, when it is billed, its cost."""
        self._check_calls_allowed()
        model = request.model
        controls = self.controls_for(model)
        try:
            probe = await self._waiting("fatal.wait", model, self.fatal_gate.wait())
        except GateShut as shut:
            raise FatalOutcome(Outcome(shut.reason), shut.message) from None
        self._check_calls_allowed()
        try:
            result, cost = await self._admitted(request, attempt, controls)
        except BaseException:
            if probe:
                self.fatal_gate.abandon()
            raise
        self._tell_fatal_gate(result, probe)
        return result, cost

    async def _admitted(
        self, request: CallRequest, attempt: _Try, controls: ModelControls
    ) -> tuple[CallResult, Cost | None]:
        model = request.model
        if self._client_ready is not None:
            await self._waiting("client.wait", model, self._client_ready())
            self._client_ready = None
        allowed = self.breaker.wait_until_allowed(after_failure=attempt.after_failure)
        await self._waiting("breaker.wait", model, allowed)
        await self._waiting("retry_after.wait", model, self.gate.wait(model))
        estimate = self.cache_expect.input_estimate(request)
        hold = await self._waiting("spend.wait", model, self._reserve_spend(request, estimate))
        try:
            reservation, permit = await self._budget_and_permit(
                model, controls, estimate, request.max_tokens, attempt.priority
            )
        except BaseException:
            self.spend.settle(hold, 0.0)
            raise
        try:
            with self._observer.attempt(request, attempt.number) as record:
                result = await self._client.call(request)
                record(result)
        except BaseException:
            permit.ignored()
            controls.pacer.release(reservation)
            self.spend.settle(hold, 0.0)
            raise
        self._settle(model, controls, permit, reservation, result)
        self._tell_breaker(result.outcome.breaker, controls, attempt.after_failure)
        self.cache_expect.observe(request, result)
        self.outcomes[result.outcome] += 1
        cost = self._cost(model, result)
        self.spend.settle(hold, float(cost.total) if cost is not None else 0.0)
        self._observer.settled(model, result, cost, controls.limiter.limit)
        return result, cost

    async def _budget_and_permit(
        self,
        model: str,
        controls: ModelControls,
        estimate: int,
        max_tokens: int,
        priority: Priority,
    ) -> tuple[Reservation, Permit]:
        """The pacer's reservation, then a permit. If a 429 came back meanwhile (during a
        ramp several do), both go back and the call waits out the retry-after first:
        going now would collect another 429, and the budget it reserved is old by then."""
        while True:
            pacing = controls.pacer.reserve(estimate, max_tokens, priority)
            reservation = await self._waiting("pacing.wait", model, pacing)
            if controls.pacer.ramping:  # the blind ramp leads: the limiter must not hold it
                controls.limiter.raise_to(controls.pacer.outstanding)
            try:
                permit = await self._waiting(
                    "limiter.wait", model, controls.limiter.acquire(priority)
                )
            except BaseException:
                controls.pacer.release(reservation)
                raise
            try:
                self._check_calls_allowed()
            except CallsStopped:
                permit.ignored()
                controls.pacer.release(reservation)
                raise
            if self.gate.blocked_until(model) is None and not controls.pacer.stale(reservation):
                controls.pacer.mark_sent(reservation)
                return reservation, permit
            permit.ignored()
            controls.pacer.release(reservation)
            await self._waiting("retry_after.wait", model, self.gate.wait(model))

    def _tell_fatal_gate(self, result: CallResult, probe: bool) -> None:
        disposition = result.outcome.disposition
        if disposition in _HELD:
            message = result.error_message or result.outcome.value
            probe_again = disposition is Disposition.PAUSE
            self.fatal_gate.close(result.outcome.value, message, probe=probe_again, was_probe=probe)
        elif probe:
            self.fatal_gate.reopen()

    async def _reserve_spend(self, request: CallRequest, estimate: int) -> SpendHold:
        """Wait for the spend budget: the call's price with ``max_tokens`` of output."""
        if not self.spend.active:
            return await self.spend.reserve(0.0)
        bound = Usage(input_tokens=estimate, output_tokens=request.max_tokens)
        return await self.spend.reserve(float(cost_of(request.model, bound, self._prices).total))

    def _cost(self, model: str, result: CallResult) -> Cost | None:
        if not (result.ok or result.outcome is Outcome.REFUSED):
            return None  # failed attempts are not billed
        return cost_of(result.model or model, result.usage, self._prices)

    def _settle(
        self,
        model: str,
        controls: ModelControls,
        permit: Permit,
        reservation: Reservation,
        result: CallResult,
    ) -> None:
        outcome = result.outcome
        signal = outcome.permit
        if signal is PermitSignal.OVERLOADED:
            self.cap_shares.refused(model, permit.inflight, controls.limiter.held)
            permit.dropped(overloaded=True)
        elif signal is PermitSignal.DROPPED or result.error_class == "timeout":
            permit.dropped()
        elif signal is PermitSignal.SUCCESS:
            permit.success(output_tokens=result.usage.output_tokens, ttft=result.ttft_s)
            self.cap_shares.answered(model)
        else:
            permit.ignored()
        if result.headers:
            refused = outcome in (Outcome.RATE_LIMITED, Outcome.OVERLOADED)
            controls.pacer.observe_headers(result.headers, reservation, refused=refused)
            self._spend_advertised(controls, reservation)
        if outcome in (Outcome.RATE_LIMITED, Outcome.OVERLOADED):
            # after the headers: a 429 that brings a new limit is not contention
            controls.pacer.refused(reservation, rate_limited=outcome is Outcome.RATE_LIMITED)
        if result.http_status is None:
            controls.pacer.release(reservation)
        else:
            controls.pacer.reconcile(
                reservation,
                result.usage.input_tokens + result.usage.cache_creation_input_tokens,
                result.usage.output_tokens,
            )
        if outcome is Outcome.RATE_LIMITED and not short_bucket(
            result.headers, reservation.amounts()
        ):
            self.gate.block(model, result.retry_after_s or _DEFAULT_RETRY_AFTER_S)

    @staticmethod
    def _spend_advertised(controls: ModelControls, reservation: Reservation) -> None:
        """Grow the limit to what the headers say the account has room for now: the
        calls in flight and waiting (already reserved) plus the budget left for more of
        this size. The pacer still meters every call, so this never overspends; without
        it the limit would creep up to the advertised budget a round trip at a time."""
        room = controls.pacer.room(reservation.input_tokens, reservation.output_tokens)
        if room:
            limiter = controls.limiter
            limiter.raise_to(limiter.inflight + limiter.waiting + room)

    def _tell_breaker(
        self, signal: BreakerSignal, controls: ModelControls, after_failure: bool
    ) -> None:
        if signal is BreakerSignal.FAILURE_AT_FLOOR:
            # the server's own word that it is overloaded, whichever document asked
            signal = (
                BreakerSignal.IGNORED if self._limiter_can_cut(controls) else BreakerSignal.FAILURE
            )
            after_failure = False
        if signal is BreakerSignal.FAILURE:
            self.breaker.record_failure(after_failure=after_failure)
        elif signal is BreakerSignal.SUCCESS:
            self.breaker.record_success()
        else:  # neither health nor sickness of the service; frees a half-open probe
            self.breaker.record_ignored()

    def _limiter_can_cut(self, controls: ModelControls) -> bool:
        """A 529 is congestion while the limit can still cut; only at its floor (a fixed
        limit is always there) does it count against the breaker. Otherwise a burst of
        instant 529s (20 in a row is one overshoot of a 64-call cap) opened the breaker
        and paused the worker for ``breaker_open_s`` over what one limit cut answers."""
        return controls.limiter.limit > controls.limiter.floor

    async def _back_off(self, counted: int, result: CallResult, model: str) -> None:
        if result.outcome is Outcome.RATE_LIMITED:
            if self.gate.blocked_until(model) is not None:
                return  # the gate holds every call to this model until retry-after
            # A bucket the pacer mirrors explained it: the pacer, synced to this 429's
            # headers, meters the other calls; this one waits out its retry-after.
            own = result.retry_after_s or _DEFAULT_RETRY_AFTER_S
            await sleep_or_event(self._clock, retry_after_delay(own, self._rng), self._stopping)
            return
        delay = backoff_delay(
            max(counted - 1, 0),
            base=self._limits.backoff_base_s,
            cap=self._limits.backoff_max_s,
            rng=self._rng,
            retry_after=result.retry_after_s,
        )
        with self._observer.backing_off(delay):
            await sleep_or_event(self._clock, delay, self._stopping)
