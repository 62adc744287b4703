"""W3C trace context in Kafka record headers.

Every record we produce carries ``traceparent`` (and ``tracestate`` when there is one), so
a document's trace runs from the publisher through the worker to the result or DLQ record
(design.md section 7). We use the W3C propagator explicitly rather than the global one:
the wire format of our topics must not change with ``OTEL_PROPAGATORS``.

Header values are bytes; anything that is not a valid ``traceparent`` (not UTF-8, wrong
shape) is ignored by ``extract``, never raised: headers are untrusted input.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "REPLAY_TRACEPARENT_HEADER",
    "TRACEPARENT",
    "TRACESTATE",
    "extract",
    "extract_replay_context",
    "format_traceparent",
    "inject",
    "replay_header",
    "traceparent_of",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# Set by DLQ replay on the republished record: the trace of the original, failed
# processing, so the new process span can link back to it.
REPLAY_TRACEPARENT_HEADER = "docstream.replay.traceparent"

_PROPAGATOR = TraceContextTextMapPropagator()
_OWN_HEADERS = frozenset({TRACEPARENT, TRACESTATE})


class _HeaderGetter(Getter[dict[str, str]]):
    """Reads the carrier built by ``_carrier``: lower-case name -> last value."""

    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


def _carrier(headers: Sequence[tuple[str, bytes]], names: frozenset[str]) -> dict[str, str]:
    carrier: dict[str, str] = {}
    for name, raw in headers:
        lowered = name.lower()
        if lowered in names and raw is not None:
            # Invalid UTF-8 becomes U+FFFD, which the propagator then rejects as malformed.
            carrier[lowered] = bytes(raw).decode("utf-8", errors="replace")
    return carrier


def inject(
    headers: list[tuple[str, bytes]], context: Context | None = None
) -> list[tuple[str, bytes]]:
    """Write the span context of ``context`` (default: the current one) into ``headers``.

    Mutates ``headers`` in place and returns it. Existing ``traceparent``/``tracestate``
    entries are removed first, so a forwarded record never carries two parents. With no
    valid span context (telemetry off and nothing incoming) nothing is added, but stale
    entries are still removed.
    """
    headers[:] = [(name, value) for name, value in headers if name.lower() not in _OWN_HEADERS]
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    for name in (TRACEPARENT, TRACESTATE):
        if name in carrier:
            headers.append((name, carrier[name].encode("ascii")))
    return headers


def extract(headers: Sequence[tuple[str, bytes]]) -> Context:
    """The context carried by ``headers`` (an empty Context when there is none or it is bad)."""
    return _PROPAGATOR.extract(_carrier(headers, _OWN_HEADERS), getter=_GETTER)


def extract_replay_context(headers: Sequence[tuple[str, bytes]]) -> SpanContext | None:
    """The span context named by ``docstream.replay.traceparent``, if present and valid."""
    replay = _carrier(headers, frozenset({REPLAY_TRACEPARENT_HEADER}))
    value = replay.get(REPLAY_TRACEPARENT_HEADER)
    if value is None:
        return None
    context = _PROPAGATOR.extract({TRACEPARENT: value}, getter=_GETTER)
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def replay_header(dlq_headers: Sequence[tuple[str, bytes]]) -> tuple[str, bytes] | None:
    """For DLQ replay: the ``docstream.replay.traceparent`` header to put on the
    republished record, taken from the DLQ record's own ``traceparent`` (None if absent)."""
    span_context = trace.get_current_span(extract(dlq_headers)).get_span_context()
    if not span_context.is_valid:
        return None
    return (REPLAY_TRACEPARENT_HEADER, format_traceparent(span_context).encode("ascii"))


def format_traceparent(span_context: SpanContext) -> str:
    """``00-<trace id>-<span id>-<flags>``; empty for an invalid span context."""
    if not span_context.is_valid:
        return ""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{int(span_context.trace_flags):02x}"
    )


def traceparent_of(span: Span) -> str:
    """The W3C ``traceparent`` of ``span``; the empty string when its context is invalid
    (telemetry off and no incoming context). See ``tracing.current_traceparent`` for a
    ``None``-returning variant."""
    return format_traceparent(span.get_span_context())
