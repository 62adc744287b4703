"""Span helpers for the publisher and the worker (OpenTelemetry API only).

One trace per document: ``send <topic>`` (PRODUCER, publisher) -> ``process <topic>``
(CONSUMER, worker) -> ``chat <model>`` per Claude attempt, wait spans for time spent
waiting, and ``send <results|dlq topic>`` for the outcome record.

Parenting choice for ``process``: the messaging conventions make a *link* to the
creation context the default correlation and allow the creation context to be the
*parent* of a single-message process span as a documented opt-in. We process one
record per span, and want the publisher, the Claude calls and the result in one trace,
so the process span is a child of the context extracted from the record headers AND
carries a link to it (``docstream.link=creation``), so tools that follow the default
link-based model find it too. If the worker had an ambient span of another trace, it is
added as a link (``docstream.link=ambient``). A replayed record also links to the
failed processing it came from (``docstream.link=replayed_from``).

With telemetry off (no provider installed) the API's no-op tracer still passes the
incoming context through, so result and DLQ records keep the publisher's
``traceparent`` and ``current_trace_id()`` still returns its trace id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.util.types import AttributeValue

from stream.telemetry.genai import (
    chat_span,
    record_chat_content,
    record_chat_result,
    record_first_chunk,
)
from stream.telemetry.propagation import (
    extract,
    extract_replay_context,
    format_traceparent,
    inject,
)
from stream.telemetry.providers import get_tracer, tracing_active
from stream.telemetry.spans import carry_context, error_type_of, mark_error, open_span

__all__ = [
    "WAIT_KINDS",
    "Waited",
    "chat_span",
    "current_trace_id",
    "current_traceparent",
    "process_span",
    "record_chat_content",
    "record_chat_result",
    "record_delivery",
    "record_first_chunk",
    "send_span",
    "wait_span",
]

MESSAGING_SYSTEM = "kafka"
LINK_KIND = "docstream.link"
# The waits the worker reports; other names are accepted but these are the vocabulary.
WAIT_KINDS = (
    "limiter.wait",
    "pacing.wait",
    "retry_after.wait",
    "retry.backoff",
    "breaker.wait",
    "fatal.wait",
    "client.wait",
)
# Keywords of wait_span with a fixed attribute name; others become docstream.wait.<name>.
_WAIT_ATTRIBUTE_NAMES = {
    "model": "gen_ai.request.model",
    "seconds": "docstream.wait.planned_seconds",  # e.g. the backoff delay chosen
}


def _key_attribute(key: bytes | None) -> str | None:
    """Conventions want a string: UTF-8 keys as they are, anything else as hex."""
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return key.hex()


def _messaging_attributes(
    operation: str, topic: str, key: bytes | None
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.name": operation,
        "messaging.operation.type": operation,
        "messaging.destination.name": topic,
    }
    key_value = _key_attribute(key)
    if key_value is not None:
        attributes["messaging.kafka.message.key"] = key_value
    return attributes


@contextmanager
def send_span(
    topic: str,
    *,
    key: bytes | None,
    headers: list[tuple[str, bytes]],
    client_id: str | None = None,
) -> Iterator[Span]:
    """PRODUCER span ``send <topic>`` for one record; injects its own context into
    ``headers`` (mutated in place) on entry, so build the record after entering. Call
    ``record_delivery`` once the broker acknowledged the record."""
    if not tracing_active():
        inject(headers)
        yield trace.get_current_span()
        return
    attributes = _messaging_attributes("send", topic, key)
    if client_id is not None:
        attributes["messaging.client.id"] = client_id
    with open_span(f"send {topic}", SpanKind.PRODUCER, attributes) as span:
        inject(headers)
        yield span


def record_delivery(span: Span, *, partition: int, offset: int) -> None:
    """Where the broker put the record (from the send future's RecordMetadata)."""
    if span.is_recording():
        span.set_attributes(
            {"messaging.destination.partition.id": str(partition), "messaging.kafka.offset": offset}
        )


@contextmanager
def process_span(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    group: str,
    headers: Sequence[tuple[str, bytes]],
) -> Iterator[Span]:
    """CONSUMER span ``process <topic>`` for one record: child of, and linked to, the
    context in its headers (see the module docstring), linked to a replayed original."""
    creation = extract(headers)
    creation_context = trace.get_current_span(creation).get_span_context()
    if not tracing_active():
        with carry_context(creation if creation_context.is_valid else None) as current:
            yield current
        return
    links: list[Link] = []
    parent = None
    if creation_context.is_valid:
        parent = creation
        links.append(Link(creation_context, {LINK_KIND: "creation"}))
        ambient = trace.get_current_span().get_span_context()
        if ambient.is_valid and ambient.trace_id != creation_context.trace_id:
            links.append(Link(ambient, {LINK_KIND: "ambient"}))
    replayed = extract_replay_context(headers)
    if replayed is not None:
        links.append(Link(replayed, {LINK_KIND: "replayed_from"}))
    attributes = _messaging_attributes("process", topic, key)
    attributes["messaging.destination.partition.id"] = str(partition)
    attributes["messaging.kafka.offset"] = offset
    attributes["messaging.consumer.group.name"] = group
    with open_span(
        f"process {topic}", SpanKind.CONSUMER, attributes, context=parent, links=links
    ) as span:
        yield span


@dataclass(slots=True)
class Waited:
    """Filled in when the ``wait_span`` block ends: how long it waited, in seconds."""

    kind: str
    seconds: float = 0.0


@contextmanager
def wait_span(
    kind: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    min_seconds: float = 0.001,
    **attrs: AttributeValue | None,
) -> Iterator[Waited]:
    """Time a wait (``limiter.wait``, ``pacing.wait``, ``retry_after.wait``,
    ``retry.backoff``, ``breaker.wait``, ``fatal.wait``, ``client.wait``) and record it
    as an INTERNAL child span named ``kind`` with the measured ``docstream.wait.seconds``.
    Keywords become attributes: ``model=`` as ``gen_ai.request.model``, ``seconds=`` (the
    planned wait, e.g. a backoff delay) as ``docstream.wait.planned_seconds``, any other
    ``name=`` as ``docstream.wait.<name>``; None values are left out.

    The span is written when the wait ends, with its real start time, and only under a
    recording parent and when the wait lasted at least ``min_seconds`` (default 1 ms): a
    free permit costs two clock reads, not a span. Pass the worker's clock (``clock=``) so
    fake-time tests see their waits. The yielded ``Waited`` carries the seconds either way
    (for the ``docstream.limiter.wait`` histogram).
    """
    waited = Waited(kind)
    parent = trace.get_current_span()
    if not parent.is_recording():
        start = clock()
        try:
            yield waited
        finally:
            waited.seconds = max(0.0, clock() - start)
        return
    start_ns = time.time_ns()
    start = clock()
    failure: BaseException | None = None
    try:
        yield waited
    except BaseException as exc:
        failure = exc
        raise
    finally:
        waited.seconds = max(0.0, clock() - start)
        if waited.seconds >= min_seconds or failure is not None:
            _emit_wait(waited, start_ns, attrs, failure)


def _emit_wait(
    waited: Waited,
    start_ns: int,
    attrs: dict[str, AttributeValue | None],
    failure: BaseException | None,
) -> None:
    attributes: dict[str, AttributeValue] = {
        _WAIT_ATTRIBUTE_NAMES.get(name, f"docstream.wait.{name}"): value
        for name, value in attrs.items()
        if value is not None
    }
    attributes["docstream.wait.seconds"] = waited.seconds
    span = get_tracer().start_span(
        waited.kind, kind=SpanKind.INTERNAL, attributes=attributes, start_time=start_ns
    )
    if failure is not None and not isinstance(failure, GeneratorExit):
        mark_error(span, error_type_of(failure), failure)
    span.end(end_time=start_ns + int(waited.seconds * 1e9))


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits (for ``Result.trace_id``), or None."""
    span_context = trace.get_current_span().get_span_context()
    return f"{span_context.trace_id:032x}" if span_context.is_valid else None


def current_traceparent() -> str | None:
    """The current span's W3C ``traceparent``, or None when there is no valid context."""
    return format_traceparent(trace.get_current_span().get_span_context()) or None
