"""Metrics: names, units, attributes and buckets as the conventions spell them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stream.errors import Outcome
from stream.telemetry.metrics import DURATION_BUCKETS, TOKEN_BUCKETS, Metrics, MetricTotals
from stream.telemetry.setup import InMemoryTelemetry

MODEL = "claude-sonnet-4-5"


def test_metrics_genai_histograms_follow_conventions(otel: InMemoryTelemetry) -> None:
    """Token usage and duration: names, units, attributes, advisory buckets, usage rule."""
    metrics = Metrics()
    metrics.record_chat(MODEL, 1.25, 100, 40, None, cache_read=20, cache_creation=5)
    metrics.record_chat(MODEL, 0.5, None, None, "rate_limited")
    recorded = otel.metrics()
    usage = recorded["gen_ai.client.token.usage"]
    assert (usage.unit, usage.kind) == ("{token}", "histogram")
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
    }
    inp = usage.point(gen_ai__token__type="input")
    assert inp.attributes == {**base, "gen_ai.token.type": "input"}
    assert (inp.count, inp.sum) == (1, 125)
    assert usage.point(gen_ai__token__type="output").sum == 40
    assert inp.explicit_bounds == TOKEN_BUCKETS
    assert TOKEN_BUCKETS[0] == 1 and TOKEN_BUCKETS[-1] == 67108864
    duration = recorded["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    assert duration.points[0].explicit_bounds == DURATION_BUCKETS
    assert DURATION_BUCKETS[0] == 0.01 and DURATION_BUCKETS[-1] == 81.92
    by_attributes = {tuple(sorted(p.attributes.items())): p.sum for p in duration.points}
    assert by_attributes == {
        tuple(sorted(base.items())): 1.25,
        tuple(sorted({**base, "error.type": "rate_limited"}.items())): 0.5,
    }


def test_metrics_docstream_instruments_named_and_attributed(otel: InMemoryTelemetry) -> None:
    """Counters, gauges and histograms of the worker carry the documented names and units."""
    metrics = Metrics()
    metrics.record_document(Outcome.SUCCESS)
    metrics.record_document("bad_input")
    metrics.add_inflight(3, MODEL)
    metrics.add_inflight(-1, MODEL)
    metrics.set_limit(MODEL, 24)
    metrics.record_limiter_wait(0.2)
    metrics.record_rate_limited(MODEL)
    metrics.record_overloaded(MODEL)
    metrics.record_cost(MODEL, Decimal("0.0125"))
    metrics.record_commit(0.01)
    metrics.set_breaker_state("open", MODEL)
    got = otel.metrics()
    docs = got["docstream.documents"]
    assert (docs.unit, docs.kind, docs.monotonic) == ("{document}", "sum", True)
    assert docs.point(docstream__outcome="success").value == 1
    assert docs.point(docstream__outcome="bad_input").value == 1
    inflight = got["docstream.inflight"]
    assert inflight.monotonic is False
    assert inflight.point(gen_ai__request__model=MODEL).value == 2
    limit = got["docstream.concurrency.limit"]
    assert limit.kind == "gauge" and limit.point(gen_ai__request__model=MODEL).value == 24
    wait = got["docstream.limiter.wait"]
    assert wait.unit == "s" and wait.point(docstream__wait__kind="limiter.wait").sum == 0.2
    assert got["docstream.rate_limited"].point(gen_ai__request__model=MODEL).value == 1
    assert got["docstream.overloaded"].point(gen_ai__request__model=MODEL).value == 1
    cost = got["docstream.cost"]
    assert cost.unit == "USD" and cost.points[0].value == pytest.approx(0.0125)
    assert got["docstream.commit.duration"].points[0].count == 1
    breaker = got["docstream.breaker.state"]
    assert breaker.point(docstream__breaker__state="open").value == 1
    assert breaker.point(docstream__breaker__state="closed").value == 0
    assert breaker.point(docstream__breaker__state="half_open").value == 0


def test_metrics_breaker_unknown_state_rejected(otel: InMemoryTelemetry) -> None:
    """A typo in a breaker state is an error, not a silent new series."""
    with pytest.raises(ValueError, match="breaker state"):
        Metrics().set_breaker_state("opened")


def test_metrics_consumer_lag_observed_per_partition(otel: InMemoryTelemetry) -> None:
    """observe_lag callbacks are read at collection, one point per (topic, partition)."""
    metrics = Metrics(group="workers")
    lag = {("documents", 0): 5, ("documents", 1): 0}
    metrics.observe_lag(lambda: dict(lag))
    first = otel.metric("docstream.consumer.lag")
    assert first.unit == "{message}"
    assert first.point(messaging__destination__partition__id="0").attributes == {
        "messaging.destination.name": "documents",
        "messaging.destination.partition.id": "0",
        "messaging.consumer.group.name": "workers",
    }
    assert first.point(messaging__destination__partition__id="0").value == 5
    lag[("documents", 0)] = 2
    assert (
        otel.metric("docstream.consumer.lag").point(messaging__destination__partition__id="0").value
        == 2
    )


def test_metrics_two_workers_share_lag_gauge_and_unregister(otel: InMemoryTelemetry) -> None:
    """Two Metrics on one meter both report lag; a closed one stops reporting."""
    first, second = Metrics(group="a"), Metrics(group="b")
    first.observe_lag(lambda: {("t", 0): 1})
    second.observe_lag(lambda: {("t", 1): 2})
    lag = otel.metric("docstream.consumer.lag")
    assert lag.point(messaging__consumer__group__name="a").value == 1
    assert lag.point(messaging__consumer__group__name="b").value == 2
    first.close()
    groups = {
        p.attributes["messaging.consumer.group.name"]
        for p in otel.metric("docstream.consumer.lag").points
    }
    assert groups == {"b"}


def test_metrics_totals_follow_recordings(otel: InMemoryTelemetry) -> None:
    """totals() feeds the progress panel: outcomes split, tokens by the usage rule, cost."""
    metrics = Metrics()
    metrics.record_document(Outcome.SUCCESS)
    metrics.record_document(Outcome.TRUNCATED)
    metrics.record_document(Outcome.TRUNCATED, dead_lettered=True)
    metrics.record_document(Outcome.REFUSED)
    metrics.record_rate_limited(MODEL)
    metrics.record_chat(MODEL, 1.0, 10, 4, None, cache_read=6)
    metrics.record_cost(MODEL, 0.5)
    assert metrics.totals() == MetricTotals(
        processed=4,
        results=2,
        dead_lettered=2,
        rate_limited=1,
        overloaded=0,
        input_tokens=16,
        output_tokens=4,
        cache_read_tokens=6,
        cost_usd=0.5,
    )
    assert metrics.totals().tokens == 20


def test_metrics_cost_by_kind_counts_each_kind_and_the_total(otel: InMemoryTelemetry) -> None:
    """A cost split by token kind lands under its own attribute and in the panel's totals."""
    metrics = Metrics()
    metrics.record_cost(
        MODEL,
        {
            "input": Decimal("0.3"),
            "output": Decimal("0.15"),
            "cache_write_5m": Decimal("0.0375"),
            "cache_write_1h": Decimal("0.06"),
            "cache_read": Decimal("0.003"),
        },
    )
    cost = otel.metrics()["docstream.cost"]
    assert cost.point(docstream__cost__kind="cache_write_1h").value == pytest.approx(0.06)
    assert cost.point(docstream__cost__kind="cache_read").value == pytest.approx(0.003)
    totals = metrics.totals()
    assert totals.cost_usd == pytest.approx(0.5505)
    assert totals.cost_cache_write_usd == pytest.approx(0.0975)
    assert totals.cost_cache_read_usd == pytest.approx(0.003)
    assert (totals.cost_input_usd, totals.cost_output_usd) == (
        pytest.approx(0.3),
        pytest.approx(0.15),
    )


def test_metrics_without_provider_are_noops() -> None:
    """With no provider installed every method runs and totals still count."""
    metrics = Metrics()
    metrics.record_chat(MODEL, 1.0, 1, 1, None)
    metrics.observe_lag(dict)
    metrics.set_limit(MODEL, 3)
    assert metrics.totals().tokens == 2
