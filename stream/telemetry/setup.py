"""OpenTelemetry SDK set-up: the only module that imports ``opentelemetry.sdk``.

``configure_telemetry(settings.telemetry)`` picks the exporter:

- ``none`` (default): no SDK provider is built; docstream's spans and metrics go to the
  global API, a no-op unless something else (e.g. ``opentelemetry-instrument``) installed
  a provider. ``OTEL_SDK_DISABLED=true`` forces this too.
- ``console``: spans and metrics as JSON on stderr (stdout stays for command output).
- ``otlp``: OTLP exporters configured by the standard variables. The protocol comes from
  ``OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL`` or ``OTEL_EXPORTER_OTLP_PROTOCOL``
  (``grpc`` or ``http/protobuf``; the specification's default is ``http/protobuf``);
  endpoint, headers, timeout, compression and temporality are read by the exporters.

Traces use a ``BatchSpanProcessor`` (export off the event loop), metrics a
``PeriodicExportingMetricReader`` (``OTEL_METRIC_EXPORT_INTERVAL``, default 60 s). The
service name is ``OTEL_SERVICE_NAME`` if set, else ``settings.service_name``; other
resource attributes come from ``OTEL_RESOURCE_ATTRIBUTES``.

``prometheus=True`` (``docstream run`` with ``telemetry.http_port``) adds OpenTelemetry's
Prometheus reader to the same MeterProvider, whatever the exporter, so ``/metrics`` shows
the very instruments OTLP exports; ``TelemetryHandle.prometheus_page()`` renders them with
prometheus-client.

The providers are handed to ``stream.telemetry.providers`` explicitly and, once per
process, also set as the global ones (so other instrumentations join the same traces).
``install_in_memory()`` does the same with in-memory exporters and never touches the
globals, so every test can have fresh providers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    Gauge,
    Histogram,
    InMemoryMetricReader,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.util.types import AttributeValue

from stream.config import ConfigError, TelemetrySettings
from stream.telemetry.providers import ProviderState, package_version, use_providers

__all__ = [
    "InMemoryTelemetry",
    "RecordedMetric",
    "RecordedPoint",
    "TelemetryHandle",
    "configure_telemetry",
    "install_in_memory",
]

Protocol = Literal["grpc", "http/protobuf"]
_PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http/protobuf")
_global_installed = False


@dataclass(slots=True)
class TelemetryHandle:
    """What ``configure_telemetry`` built; ``shutdown()`` flushes and restores the previous
    providers. Usable as a context manager."""

    exporter: str
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    _previous: ProviderState = field(default_factory=ProviderState)
    _closed: bool = False
    prometheus: bool = False

    def prometheus_page(self) -> tuple[bytes, str]:
        """The Prometheus exposition of every metric (body, content type)."""
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

    def force_flush(self, timeout_ms: int = 10_000) -> bool:
        ok = True
        if self.tracer_provider is not None:
            ok = self.tracer_provider.force_flush(timeout_ms) and ok
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(timeout_ms) and ok
        return ok

    def shutdown(self) -> None:
        """Flush pending spans and metrics, stop the exporters. Idempotent."""
        if self._closed:
            return
        self._closed = True
        use_providers(self._previous)
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()

    def __enter__(self) -> TelemetryHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


def configure_telemetry(
    settings: TelemetrySettings,
    *,
    set_global: bool = True,
    instance_id: str | None = None,
    prometheus: bool = False,
) -> TelemetryHandle:
    """Install providers for ``settings.exporter`` (plus the Prometheus reader when
    ``prometheus``) and point docstream at them."""
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or (settings.exporter == "none" and not prometheus):
        previous = use_providers(ProviderState(capture_content=settings.capture_content))
        return TelemetryHandle("none", _previous=previous)
    resource = _resource(settings.service_name, instance_id)
    tracer_provider: TracerProvider | None = None
    readers: list[MetricReader] = []
    if settings.exporter != "none":
        span_exporter, metric_exporter = _exporters(settings.exporter)
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers.append(PeriodicExportingMetricReader(metric_exporter))
    if prometheus:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        readers.append(PrometheusMetricReader())
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    previous = use_providers(
        ProviderState(tracer_provider, meter_provider, settings.capture_content)
    )
    if set_global:
        _install_global(tracer_provider, meter_provider)
    return TelemetryHandle(
        settings.exporter, tracer_provider, meter_provider, previous, prometheus=prometheus
    )


def _exporters(exporter: str) -> tuple[SpanExporter, MetricExporter]:
    if exporter == "console":
        return ConsoleSpanExporter(out=sys.stderr), ConsoleMetricExporter(out=sys.stderr)
    return _otlp_span_exporter(_protocol("TRACES")), _otlp_metric_exporter(_protocol("METRICS"))


def _install_global(tracer_provider: TracerProvider | None, meter_provider: MeterProvider) -> None:
    global _global_installed
    if not _global_installed:  # the API allows it once per process; later calls would warn
        _global_installed = True
        if tracer_provider is not None:
            otel_trace.set_tracer_provider(tracer_provider)
        otel_metrics.set_meter_provider(meter_provider)


def _resource(service_name: str, instance_id: str | None) -> Resource:
    attributes: dict[str, AttributeValue] = {
        "service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name,
        "service.version": package_version(),
    }
    if instance_id is not None:
        attributes["service.instance.id"] = instance_id
    return Resource.create(attributes)


def _protocol(signal: Literal["TRACES", "METRICS"]) -> Protocol:
    raw = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    for protocol in _PROTOCOLS:
        if raw == protocol:
            return protocol
    raise ConfigError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL: {raw!r} is not supported; use grpc or http/protobuf"
    )


def _otlp_span_exporter(protocol: Protocol) -> SpanExporter:
    # Imported here: the gRPC stack is heavy and only needed when OTLP/gRPC is chosen.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def _otlp_metric_exporter(protocol: Protocol) -> MetricExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter()


@dataclass(frozen=True, slots=True)
class RecordedPoint:
    """One data point: ``value`` for sums and gauges; count/sum/buckets for histograms."""

    attributes: dict[str, Any]
    value: float | None = None
    count: int | None = None
    sum: float | None = None
    explicit_bounds: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordedMetric:
    name: str
    unit: str
    kind: Literal["sum", "gauge", "histogram"]
    monotonic: bool | None
    points: tuple[RecordedPoint, ...]

    def point(self, **attributes: Any) -> RecordedPoint:
        """The one point whose attributes include ``attributes`` (dots as ``__``)."""
        wanted = {name.replace("__", "."): value for name, value in attributes.items()}
        found = [p for p in self.points if wanted.items() <= p.attributes.items()]
        if len(found) != 1:
            raise LookupError(f"{self.name}: {len(found)} points match {wanted}")
        return found[0]


class InMemoryTelemetry:
    """Fresh in-memory providers for tests (never the set-once globals); ``close()``
    restores whatever docstream used before."""

    def __init__(self, *, capture_content: bool = False) -> None:
        self.span_exporter = InMemorySpanExporter()
        self.metric_reader: MetricReader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider(resource=Resource.create({"service.name": "test"}))
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self._previous = use_providers(
            ProviderState(self.tracer_provider, self.meter_provider, capture_content)
        )

    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.span_exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        """The single finished span called ``name``."""
        found = [s for s in self.spans() if s.name == name]
        if len(found) != 1:
            raise LookupError(f"{len(found)} finished spans named {name!r}")
        return found[0]

    def metrics(self) -> dict[str, RecordedMetric]:
        """Collect now and return every metric by name."""
        assert isinstance(self.metric_reader, InMemoryMetricReader)
        data = self.metric_reader.get_metrics_data()
        out: dict[str, RecordedMetric] = {}
        if data is None:
            return out
        for resource_metrics in data.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = _recorded(metric.name, metric.unit or "", metric.data)
        return out

    def metric(self, name: str) -> RecordedMetric:
        return self.metrics()[name]

    def clear(self) -> None:
        self.span_exporter.clear()

    def close(self) -> None:
        use_providers(self._previous)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def __enter__(self) -> InMemoryTelemetry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def install_in_memory(*, capture_content: bool = False) -> InMemoryTelemetry:
    """Point docstream at in-memory exporters (SimpleSpanProcessor: spans are visible as
    soon as they end)."""
    return InMemoryTelemetry(capture_content=capture_content)


def _recorded(name: str, unit: str, data: object) -> RecordedMetric:
    if isinstance(data, Histogram):
        points = tuple(
            RecordedPoint(
                dict(p.attributes or {}),
                count=p.count,
                sum=p.sum,
                explicit_bounds=tuple(p.explicit_bounds),
                bucket_counts=tuple(p.bucket_counts),
            )
            for p in data.data_points
        )
        return RecordedMetric(name, unit, "histogram", None, points)
    if isinstance(data, Sum):
        points = _values(data.data_points)
        return RecordedMetric(name, unit, "sum", data.is_monotonic, points)
    if isinstance(data, Gauge):
        return RecordedMetric(name, unit, "gauge", None, _values(data.data_points))
    raise TypeError(f"{name}: unexpected metric data {type(data).__name__}")


def _values(data_points: Sequence[Any]) -> tuple[RecordedPoint, ...]:
    return tuple(RecordedPoint(dict(p.attributes or {}), value=p.value) for p in data_points)
