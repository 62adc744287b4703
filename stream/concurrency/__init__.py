"""Adaptive concurrency and pacing: the pure building blocks of the Claude call path.

Netflix concurrency-limits' split: a ``Limit`` (algorithm: samples in, limit out), a
``Limiter`` (permit pool that blocks when full: the backpressure) and ``Permit`` (ends
in exactly one of success / dropped / ignored). Beside it, server-driven controls:
``HeadroomPacer`` (token buckets kept in step with the rate-limit headers),
``RetryAfterGate`` (429 retry-after per model), ``FatalGate`` (spend cap, auth: one
gate for the worker), ``CircuitBreaker``, ``backoff_delay``, and ``SpendBudget`` (USD
buckets for the spend budget). ``LIMIT_ALGORITHMS`` is the one registry of limit algorithms by
name. Time comes from an injected ``Clock``. This package imports nothing from the
rest of ``stream`` and no SDK.
"""

from __future__ import annotations

from stream.concurrency.algorithms import (
    DEFAULT_ALGORITHM,
    LIMIT_ALGORITHMS,
    LimitAlgorithm,
    LimitBounds,
    build_limit,
)
from stream.concurrency.backoff import backoff_delay, retry_after_delay
from stream.concurrency.breaker import BreakerState, CircuitBreaker, TransitionListener
from stream.concurrency.clock import (
    Clock,
    ClockTimeout,
    ManualClock,
    MonotonicClock,
    clock_timeout,
    sleep_or_event,
)
from stream.concurrency.fatal import FatalGate, GateChange, GateListener, GateShut, GateState
from stream.concurrency.gate import RetryAfterGate
from stream.concurrency.limit import AIMDLimit, FixedLimit, Limit
from stream.concurrency.limiter import Limiter, LimitListener, Permit, PermitOutcome
from stream.concurrency.pacing import BUCKET_KINDS, HeadroomPacer, Reservation, TokenBucket
from stream.concurrency.pacing_headers import short_bucket
from stream.concurrency.priority import LOWEST, Priority, PriorityTurn
from stream.concurrency.spend import SPEND_WINDOWS_S, SpendBudget, SpendHold
from stream.concurrency.token_latency import TokenLatencyLimit

__all__ = [
    "BUCKET_KINDS",
    "DEFAULT_ALGORITHM",
    "LIMIT_ALGORITHMS",
    "LOWEST",
    "SPEND_WINDOWS_S",
    "AIMDLimit",
    "BreakerState",
    "CircuitBreaker",
    "Clock",
    "ClockTimeout",
    "FatalGate",
    "FixedLimit",
    "GateChange",
    "GateListener",
    "GateShut",
    "GateState",
    "HeadroomPacer",
    "Limit",
    "LimitAlgorithm",
    "LimitBounds",
    "LimitListener",
    "Limiter",
    "ManualClock",
    "MonotonicClock",
    "Permit",
    "PermitOutcome",
    "Priority",
    "PriorityTurn",
    "Reservation",
    "RetryAfterGate",
    "SpendBudget",
    "SpendHold",
    "TokenBucket",
    "TokenLatencyLimit",
    "TransitionListener",
    "backoff_delay",
    "build_limit",
    "clock_timeout",
    "retry_after_delay",
    "short_bucket",
    "sleep_or_event",
]
