"""The worker's metrics, through the OpenTelemetry API only.

Names follow the GenAI conventions where they exist (``gen_ai.client.token.usage``,
``gen_ai.client.operation.duration`` with their advisory bucket boundaries); the rest
are ``docstream.*``. Model-scoped instruments carry ``gen_ai.request.model``.

``Metrics`` also keeps plain running totals (``totals()``), so the live progress panel
can show the same numbers without reading back from an exporter.

Build ``Metrics`` after ``configure_telemetry``/``install_in_memory``: its instruments
come from the meter current at construction (or the one passed in).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.util.types import AttributeValue

from stream.errors import Disposition, Outcome
from stream.telemetry.providers import get_meter

__all__ = [
    "BREAKER_STATES",
    "DURATION_BUCKETS",
    "TOKEN_BUCKETS",
    "LagCallback",
    "MetricTotals",
    "Metrics",
]

# GenAI conventions, gen_ai.client.token.usage: 1, 4, 16, ... 4**13.
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))
# GenAI conventions, gen_ai.client.operation.duration: 0.01 s doubling to 81.92 s.
DURATION_BUCKETS = tuple(round(0.01 * 2**i, 2) for i in range(14))
# Waits and commits: from a millisecond (a free permit) to minutes (a long retry-after).
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BREAKER_STATES = ("closed", "half_open", "open")

LagCallback = Callable[[], Mapping[tuple[str, int], int]]

_MODEL = "gen_ai.request.model"
# Cost kind -> running-total column (both cache-write lifetimes add up to one column).
_COST_COLUMNS = {
    "input": "cost_input_usd",
    "output": "cost_output_usd",
    "cache_write_5m": "cost_cache_write_usd",
    "cache_write_1h": "cost_cache_write_usd",
    "cache_read": "cost_cache_read_usd",
}
_GENAI_BASE = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic"}


@dataclass(frozen=True, slots=True)
class MetricTotals:
    """Running totals since start, for the progress panel."""

    processed: int = 0
    results: int = 0
    dead_lettered: int = 0
    rate_limited: int = 0
    overloaded: int = 0
    input_tokens: int = 0  # includes cache reads and writes (the GenAI conventions' rule)
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    cost_input_usd: float = 0.0
    cost_output_usd: float = 0.0
    cost_cache_write_usd: float = 0.0  # 5-minute and 1-hour writes
    cost_cache_read_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Metrics:
    """Instruments for one worker; every method is cheap with telemetry off."""

    def __init__(self, meter: Meter | None = None, *, group: str | None = None) -> None:
        meter = meter if meter is not None else get_meter()
        self._group = group
        self._lock = threading.Lock()  # totals are read by the panel's refresh thread
        self._counts: dict[str, float] = dict.fromkeys(MetricTotals.__slots__, 0)
        self._lag_gauge = _lag_gauge_for(meter)
        self._unregister: list[Callable[[], None]] = []
        self._documents = meter.create_counter(
            "docstream.documents", unit="{document}", description="documents finished, by outcome"
        )
        self._inflight = meter.create_up_down_counter(
            "docstream.inflight", unit="{request}", description="Claude calls in flight"
        )
        self._limit = meter.create_gauge(
            "docstream.concurrency.limit", unit="{request}", description="adaptive limit"
        )
        self._limiter_wait = meter.create_histogram(
            "docstream.limiter.wait",
            unit="s",
            description="time waiting for a permit, pacing, retry-after or backoff",
            explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
        )
        self._rate_limited = meter.create_counter(
            "docstream.rate_limited", unit="{response}", description="429 responses"
        )
        self._overloaded = meter.create_counter(
            "docstream.overloaded", unit="{response}", description="529 / overloaded_error"
        )
        self._token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="tokens per call (input includes cache read and creation)",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="duration of one Messages API call",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._cost = meter.create_counter(
            "docstream.cost", unit="USD", description="estimated spend from the price table"
        )
        self._budget_left = meter.create_gauge(
            "docstream.spend.budget.remaining",
            unit="USD",
            description="spend budget left in its window's bucket (calls wait at 0)",
        )
        self._budget = meter.create_gauge(
            "docstream.spend.budget", unit="USD", description="spend budget per window"
        )
        self._commit = meter.create_histogram(
            "docstream.commit.duration",
            unit="s",
            description="offset commit round trip",
            explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
        )
        self._breaker = meter.create_gauge(
            "docstream.breaker.state",
            unit="1",
            description="1 for the breaker's current state, 0 for the others",
        )

    def totals(self) -> MetricTotals:
        with self._lock:
            counts = dict(self._counts)
        values: dict[str, Any] = {
            name: v if name.endswith("_usd") else int(v) for name, v in counts.items()
        }
        return MetricTotals(**values)

    def _add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    def record_document(self, outcome: Outcome | str, *, dead_lettered: bool | None = None) -> None:
        """A document finished. Unless told (``dead_lettered``, e.g. truncation policy
        ``dlq``), an outcome whose disposition is DONE counts as a result, others as DLQ'd."""
        value = outcome.value if isinstance(outcome, Outcome) else outcome
        self._documents.add(1, {"docstream.outcome": value})
        if dead_lettered is None:
            dead_lettered = _disposition(value) is not Disposition.DONE
        self._add(processed=1, dead_lettered=int(dead_lettered), results=int(not dead_lettered))

    def add_inflight(self, delta: int, model: str | None = None) -> None:
        self._inflight.add(delta, {_MODEL: model} if model else None)

    def set_limit(self, model: str, limit: int) -> None:
        self._limit.set(limit, {_MODEL: model})

    def record_limiter_wait(self, seconds: float, kind: str = "limiter.wait") -> None:
        self._limiter_wait.record(seconds, {"docstream.wait.kind": kind})

    def record_rate_limited(self, model: str) -> None:
        self._rate_limited.add(1, {_MODEL: model})
        self._add(rate_limited=1)

    def record_overloaded(self, model: str) -> None:
        self._overloaded.add(1, {_MODEL: model})
        self._add(overloaded=1)

    def record_chat(
        self,
        model: str,
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
        error_type: str | None,
        *,
        cache_read: int = 0,
        cache_creation: int = 0,
        response_model: str | None = None,
    ) -> None:
        """One Messages API attempt. ``input_tokens`` is Anthropic's raw count; the
        recorded input usage adds cache read and creation (the conventions' rule)."""
        base: dict[str, AttributeValue] = {**_GENAI_BASE, _MODEL: model}
        if response_model is not None:
            base["gen_ai.response.model"] = response_model
        timed = dict(base) if error_type is None else {**base, "error.type": error_type}
        self._duration.record(duration_s, timed)
        total_in = 0
        if input_tokens is not None:
            total_in = input_tokens + cache_read + cache_creation
            self._token_usage.record(total_in, {**base, "gen_ai.token.type": "input"})
        if output_tokens is not None:
            self._token_usage.record(output_tokens, {**base, "gen_ai.token.type": "output"})
        self._add(
            input_tokens=total_in,
            output_tokens=output_tokens or 0,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_creation,
        )

    def record_cost(self, model: str, usd: float | Decimal | Mapping[str, Decimal]) -> None:
        """Spend of one call: a total, or USD by token kind (``stream.claude.cost.Cost``
        kinds: input, output, cache_write_5m, cache_write_1h, cache_read), each added
        under its own ``docstream.cost.kind`` attribute."""
        if not isinstance(usd, Mapping):
            self._cost.add(float(usd), {_MODEL: model})
            self._add(cost_usd=float(usd))
            return
        for kind, value in usd.items():
            amount = float(value)
            if amount:
                self._cost.add(amount, {_MODEL: model, "docstream.cost.kind": kind})
            self._add(cost_usd=amount, **{_COST_COLUMNS[kind]: amount})

    def set_spend_budget(self, window: str, remaining_usd: float, budget_usd: float) -> None:
        """The spend budget of ``window`` (hour, day): USD left in its bucket now, and the
        budget (``limits.budget_usd_per_*``)."""
        attributes = {"docstream.budget.window": window}
        self._budget_left.set(remaining_usd, attributes)
        self._budget.set(budget_usd, attributes)

    def record_commit(self, seconds: float) -> None:
        self._commit.record(seconds)

    def set_breaker_state(self, state: str, model: str | None = None) -> None:
        """Record 1 for ``state`` and 0 for the other states, so a panel can plot either."""
        if state not in BREAKER_STATES:
            raise ValueError(f"breaker state must be one of {BREAKER_STATES}, got {state!r}")
        for candidate in BREAKER_STATES:
            attributes: dict[str, AttributeValue] = {"docstream.breaker.state": candidate}
            if model is not None:
                attributes[_MODEL] = model
            self._breaker.set(int(candidate == state), attributes)

    def observe_lag(self, callback: LagCallback) -> Callable[[], None]:
        """Register ``callback() -> {(topic, partition): lag}``, read at each export; returns
        a function that unregisters it (``close()`` unregisters all). It runs on the
        exporter's thread: return a fresh dict, and do not touch the event loop."""
        unregister = self._lag_gauge.add(callback, self._group)
        self._unregister.append(unregister)
        return unregister

    def close(self) -> None:
        """Stop reporting this worker's lag (the gauge outlives it: it belongs to the meter)."""
        while self._unregister:
            self._unregister.pop()()


class _LagGauge:
    """One ``docstream.consumer.lag`` instrument per meter, fed by every registered source.

    The SDK keeps the first observable instrument of a name and ignores later ones, so a
    second ``Metrics`` on the same meter (several workers in one process, benchmarks)
    must share it rather than create its own.
    """

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        self._sources: dict[int, tuple[LagCallback, str | None]] = {}
        self._next_id = 0
        meter.create_observable_gauge(
            "docstream.consumer.lag",
            callbacks=[self._observe],
            unit="{message}",
            description="highwater minus the next offset to consume, per partition",
        )

    def add(self, callback: LagCallback, group: str | None) -> Callable[[], None]:
        with self._lock:
            source_id = self._next_id
            self._next_id += 1
            self._sources[source_id] = (callback, group)

        def unregister() -> None:
            with self._lock:
                self._sources.pop(source_id, None)

        return unregister

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            sources = list(self._sources.values())
        observations = []
        for callback, group in sources:
            for (topic, partition), lag in callback().items():
                attributes: dict[str, AttributeValue] = {
                    "messaging.destination.name": topic,
                    "messaging.destination.partition.id": str(partition),
                }
                if group is not None:
                    attributes["messaging.consumer.group.name"] = group
                observations.append(Observation(lag, attributes))
        return observations


_LAG_GAUGES: weakref.WeakKeyDictionary[Meter, _LagGauge] = weakref.WeakKeyDictionary()
_LAG_GAUGES_LOCK = threading.Lock()


def _lag_gauge_for(meter: Meter) -> _LagGauge:
    with _LAG_GAUGES_LOCK:
        gauge = _LAG_GAUGES.get(meter)
        if gauge is None:
            gauge = _LAG_GAUGES[meter] = _LagGauge(meter)
        return gauge


_OUTCOME_VALUES = frozenset(outcome.value for outcome in Outcome)


def _disposition(value: str) -> Disposition | None:
    return Outcome(value).disposition if value in _OUTCOME_VALUES else None
