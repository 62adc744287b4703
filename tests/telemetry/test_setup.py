"""configure_telemetry: none / console / OTLP over HTTP and gRPC to a local fake collector."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from stream.config import ConfigError, TelemetrySettings
from stream.telemetry.metrics import Metrics
from stream.telemetry.providers import content_capture_enabled, current_state
from stream.telemetry.setup import configure_telemetry
from stream.telemetry.tracing import send_span


class _Received:
    def __init__(self) -> None:
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []

    def span_names(self) -> list[str]:
        return [
            span.name
            for request in self.traces
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def service_names(self) -> set[str]:
        return {
            attribute.value.string_value
            for request in self.traces
            for resource in request.resource_spans
            for attribute in resource.resource.attributes
            if attribute.key == "service.name"
        }

    def metric_names(self) -> set[str]:
        return {
            metric.name
            for request in self.metrics
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }


@pytest.fixture
def http_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Received]:
    received = _Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.traces.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            elif self.path == "/v1/metrics":
                received.metrics.append(
                    metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                )
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def grpc_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Received]:
    received = _Received()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.traces.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.metrics.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    yield received
    server.stop(grace=None)


def _one_span_and_metric() -> None:
    with send_span("documents", key=b"k", headers=[]):
        pass
    Metrics().record_document("success")


def test_configure_none_installs_no_provider() -> None:
    """The default exporter builds no SDK provider; the capture switch is still applied."""
    handle = configure_telemetry(TelemetrySettings(capture_content=True), set_global=False)
    try:
        assert handle.tracer_provider is None and handle.meter_provider is None
        assert current_state().tracer_provider is None
        assert content_capture_enabled()
        with send_span("t", key=None, headers=[]) as span:
            assert not span.is_recording()
    finally:
        handle.shutdown()
    assert not content_capture_enabled()


def test_configure_sdk_disabled_env_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SDK_DISABLED=true wins over a configured exporter."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with configure_telemetry(TelemetrySettings(exporter="console"), set_global=False) as handle:
        assert handle.exporter == "none" and handle.tracer_provider is None


def test_configure_console_writes_spans_and_metrics_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """console prints spans and metrics as JSON on stderr when flushed at shutdown."""
    with configure_telemetry(TelemetrySettings(exporter="console"), set_global=False):
        _one_span_and_metric()
    captured = capsys.readouterr()
    assert '"name": "send documents"' in captured.err
    assert '"name": "docstream.documents"' in captured.err
    assert captured.out == ""


def test_configure_otlp_http_exports_to_collector(
    http_collector: _Received, monkeypatch: pytest.MonkeyPatch
) -> None:
    """otlp + http/protobuf sends spans and metrics to OTEL_EXPORTER_OTLP_ENDPOINT."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    settings = TelemetrySettings(exporter="otlp", service_name="from-settings")
    with configure_telemetry(settings, set_global=False):
        _one_span_and_metric()
    assert http_collector.span_names() == ["send documents"]
    assert http_collector.service_names() == {"from-env"}
    assert "docstream.documents" in http_collector.metric_names()


def test_configure_otlp_grpc_exports_to_collector(grpc_collector: _Received) -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc picks the gRPC exporters; settings name the service."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        patch.delenv("OTEL_SERVICE_NAME", raising=False)
        settings = TelemetrySettings(exporter="otlp", service_name="from-settings")
        with configure_telemetry(settings, set_global=False):
            _one_span_and_metric()
    assert grpc_collector.span_names() == ["send documents"]
    assert grpc_collector.service_names() == {"from-settings"}
    assert "docstream.documents" in grpc_collector.metric_names()


def test_configure_otlp_unknown_protocol_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A protocol the Python exporters lack (http/json) fails with a clear config error."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ConfigError, match="http/json"):
        configure_telemetry(TelemetrySettings(exporter="otlp"), set_global=False)
