"""The one way docstream opens a span: as current, with errors recorded without content.

The SDK's default ``record_exception=True`` writes ``str(exc)`` and the stack trace into a
span event. Exception messages can quote input (a pydantic error shows the offending
value, an API error body can echo the prompt), so by default we record only the
exception's class as ``error.type`` and in the status; the message and stack trace are
added only when content capture is switched on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from stream.telemetry.providers import content_capture_enabled, get_tracer, tracing_active

__all__ = ["ERROR_TYPE", "carry_context", "error_type_of", "mark_error", "open_span"]

ERROR_TYPE = "error.type"


def error_type_of(exc: BaseException) -> str:
    """Fully qualified class name, as ``error.type`` asks (builtins stay short)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def mark_error(span: Span, error_type: str, exc: BaseException | None = None) -> None:
    """Set ``error.type`` and an ERROR status carrying only the type, never a message."""
    if not span.is_recording():
        return
    span.set_attribute(ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))
    if exc is not None and content_capture_enabled():
        span.record_exception(exc)


def _already_typed(span: Span) -> bool:
    # SDK spans expose their attributes read-only; the API Span has no getter, hence getattr.
    attributes = getattr(span, "attributes", None)
    return isinstance(attributes, Mapping) and ERROR_TYPE in attributes


@contextmanager
def carry_context(context: Context | None) -> Iterator[Span]:
    """The telemetry-off path: make ``context``'s span (e.g. the one extracted from a
    record) current without creating a span, exactly as the API's no-op tracer would,
    so the trace id still reaches results and outgoing headers."""
    if context is None:
        yield trace.get_current_span()
        return
    span = trace.get_current_span(context)
    token = attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        detach(token)


@contextmanager
def open_span(
    name: str,
    kind: SpanKind,
    attributes: Mapping[str, AttributeValue],
    *,
    context: Context | None = None,
    links: Sequence[Link] = (),
) -> Iterator[Span]:
    """Start ``name`` as the current span; an exception escaping the block marks it failed
    (keeping an ``error.type`` the block already set, e.g. ``rate_limited``) and re-raises.
    With tracing inactive it only carries ``context`` (see ``carry_context``)."""
    if not tracing_active():
        with carry_context(context) as current:
            yield current
        return
    with get_tracer().start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except GeneratorExit:
            raise
        except BaseException as exc:
            if _already_typed(span):
                # The block classified the failure itself (status set with it); keep that.
                if content_capture_enabled():
                    span.record_exception(exc)
            else:
                mark_error(span, error_type_of(exc), exc)
            raise
