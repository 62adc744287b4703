"""The worker's HTTP port: /livez, /readyz, Prometheus /metrics (issue 13, item 3)."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

from stream.config import TelemetrySettings
from stream.errors import Outcome
from stream.telemetry.endpoints import Endpoints, Readiness
from stream.telemetry.metrics import Metrics
from stream.telemetry.setup import configure_telemetry, install_in_memory


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    """(status, content type, body) of one request, as a probe or a scraper sends it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    content_type = re.search(r"Content-Type: (.*)\r?\n?", head)
    return status, (content_type.group(1).strip() if content_type else ""), body


async def test_probes_answer_from_the_readiness_callable_and_metrics_from_the_page() -> None:
    state = Readiness(False, "joining: consumer group")
    endpoints = Endpoints(
        "127.0.0.1", 0, ready=lambda: state, metrics=lambda: (b"m_total 1\n", "text/plain")
    )
    async with endpoints:
        port = endpoints.port
        assert (await get(port, "/livez"))[0] == 200
        status, _, body = await get(port, "/readyz")
        assert (status, body) == (503, '{"ready": false, "reason": "joining: consumer group"}')
        state = Readiness(True, "running")
        assert (await get(port, "/readyz"))[0] == 200
        assert await get(port, "/metrics") == (200, "text/plain", "m_total 1\n")
        assert (await get(port, "/nope"))[0] == 404
        assert (await get(port, "/livez", method="POST"))[0] == 405
    # Closed with the worker: nothing listens any more.
    try:
        await get(port, "/livez")
    except OSError:
        pass
    else:
        raise AssertionError("still serving after exit")


async def test_endpoints_without_a_metrics_page_have_no_metrics_path() -> None:
    async with Endpoints("127.0.0.1", 0, ready=lambda: Readiness(True, "running")) as ep:
        assert (await get(ep.port, "/metrics"))[0] == 404


def _record_everything(metrics: Metrics) -> None:
    metrics.record_document(Outcome.SUCCESS, dead_lettered=False)
    metrics.add_inflight(1, "claude-x")
    metrics.set_limit("claude-x", 8)
    metrics.record_limiter_wait(0.01)
    metrics.record_rate_limited("claude-x")
    metrics.record_overloaded("claude-x")
    metrics.record_chat("claude-x", 0.5, 10, 20, None)
    metrics.record_cost("claude-x", Decimal("0.001"))
    metrics.record_commit(0.002)
    metrics.set_breaker_state("closed", "claude-x")
    metrics.observe_lag(lambda: {("documents", 0): 5})


def test_prometheus_page_has_every_instrument_otlp_exports() -> None:
    """The Prometheus reader sits on the same MeterProvider: one family per OTel metric,
    even with no OTLP/console exporter configured."""
    with install_in_memory() as memory:
        _record_everything(Metrics(group="g"))
        otel_names = set(memory.metrics())
    handle = configure_telemetry(TelemetrySettings(), set_global=False, prometheus=True)
    try:
        _record_everything(Metrics(group="g"))
        body, content_type = handle.prometheus_page()
    finally:
        handle.shutdown()
    assert content_type.startswith("text/plain")
    families = set(re.findall(r"^# TYPE (\S+) ", body.decode(), flags=re.M))
    assert len(otel_names) >= 10
    missing = {
        name
        for name in otel_names
        if not any(f.startswith(name.replace(".", "_")) for f in families)
    }
    assert missing == set()
