"""Where docstream's tracer and meter come from.

OpenTelemetry's global providers can be set only once per process. Our code therefore
never calls ``opentelemetry.trace.get_tracer`` directly: it asks ``get_tracer()`` /
``get_meter()`` here, which return instruments from explicit providers when
``stream.telemetry.setup`` installed some (a real pipeline, or in-memory ones in tests),
and otherwise fall back to the global API (a no-op unless something else, e.g.
``opentelemetry-instrument``, configured it).

The content-capture switch lives here too, set once at setup: by default no prompt,
document or output text goes into any span (reliability-anchors.md section 5.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace

__all__ = [
    "INSTRUMENTATION_NAME",
    "ProviderState",
    "content_capture_enabled",
    "current_state",
    "get_meter",
    "get_tracer",
    "package_version",
    "tracing_active",
    "use_providers",
]

INSTRUMENTATION_NAME = "docstream"


# The PyPI distribution name ("docstream" belongs to an unrelated project).
DISTRIBUTION = "docstream-kafka"


def package_version() -> str:
    """The installed docstream version, for the instrumentation scope and resource."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


_VERSION = package_version()


@dataclass(frozen=True, slots=True)
class ProviderState:
    """What ``get_tracer``/``get_meter`` use; ``None`` means the global API provider."""

    tracer_provider: otel_trace.TracerProvider | None = None
    meter_provider: otel_metrics.MeterProvider | None = None
    capture_content: bool = False


_state = ProviderState()
_tracer: otel_trace.Tracer | None = None
_meter: otel_metrics.Meter | None = None
_active: bool | None = None


def use_providers(state: ProviderState) -> ProviderState:
    """Point docstream at ``state``; return the previous state so callers can restore it."""
    global _state, _tracer, _meter, _active
    previous = _state
    _state = state
    _tracer = None
    _meter = None
    _active = None
    return previous


def current_state() -> ProviderState:
    return _state


def get_tracer() -> otel_trace.Tracer:
    """docstream's tracer: the explicit provider's, else the global (proxy, no-op) one."""
    global _tracer
    if _tracer is None:
        provider = _state.tracer_provider
        if provider is None:
            _tracer = otel_trace.get_tracer(INSTRUMENTATION_NAME, _VERSION)
        else:
            _tracer = provider.get_tracer(INSTRUMENTATION_NAME, _VERSION)
    return _tracer


def get_meter() -> otel_metrics.Meter:
    """docstream's meter: the explicit provider's, else the global (proxy, no-op) one."""
    global _meter
    if _meter is None:
        provider = _state.meter_provider
        if provider is None:
            _meter = otel_metrics.get_meter(INSTRUMENTATION_NAME, _VERSION)
        else:
            _meter = provider.get_meter(INSTRUMENTATION_NAME, _VERSION)
    return _meter


def tracing_active() -> bool:
    """Whether spans can record: an explicit provider is installed, or someone set a global
    one. False means our helpers take a fast path that only carries the trace context.

    Decided once per ``use_providers`` (a global provider set later, after docstream has
    started tracing, is not noticed; set it before, as ``opentelemetry-instrument`` does).
    """
    global _active
    if _active is None:
        _active = _state.tracer_provider is not None or not isinstance(
            otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider
        )
    return _active


def content_capture_enabled() -> bool:
    """True only when the operator switched on ``telemetry.capture_content``."""
    return _state.capture_content
