"""The call path's and the processor's observers as spans and metrics, mapped once.

``CallTelemetry`` and ``ProcessorTelemetry`` implement ``stream.observers``: every span
attribute and metric a call result or a processed record produces is set here, so the
core says what happened once and never touches the OpenTelemetry API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span

from stream.claude.cost import Cost
from stream.claude.types import CallRequest, CallResult
from stream.errors import Disposition, Outcome
from stream.observers import AttemptRecorder, DeliveryRecorder, NullProcessorObserver
from stream.ports import Output, RawRecord
from stream.telemetry import tracing
from stream.telemetry.metrics import Metrics

__all__ = ["CallTelemetry", "ProcessorTelemetry"]


class CallTelemetry:
    """Wait spans and the limiter-wait histogram, ``chat`` spans, per-attempt metrics."""

    def __init__(self, metrics: Metrics, clock: Callable[[], float]) -> None:
        self._metrics = metrics
        self._clock = clock

    @contextmanager
    def waiting(self, kind: str, model: str) -> Iterator[None]:
        with tracing.wait_span(kind, clock=self._clock, model=model) as waited:
            yield
        self._metrics.record_limiter_wait(waited.seconds, kind)

    @contextmanager
    def backing_off(self, seconds: float) -> Iterator[None]:
        with tracing.wait_span("retry.backoff", clock=self._clock, seconds=seconds):
            yield

    @contextmanager
    def attempt(self, request: CallRequest, attempt: int) -> Iterator[AttemptRecorder]:
        self._metrics.add_inflight(1, request.model)
        try:
            with tracing.chat_span(
                request.model,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stage=request.stage,
                attempt=attempt,
                stream=request.stream,
            ) as span:
                yield lambda result: _record_chat(span, result)
        finally:
            self._metrics.add_inflight(-1, request.model)

    def settled(self, model: str, result: CallResult, cost: Cost | None, limit: int) -> None:
        metrics = self._metrics
        usage = result.usage
        metrics.record_chat(
            model,
            result.latency_s,
            usage.input_tokens,
            usage.output_tokens,
            None if result.ok else result.error_class,
            cache_read=usage.cache_read_input_tokens,
            cache_creation=usage.cache_creation_input_tokens,
            response_model=result.model or None,
        )
        if result.outcome is Outcome.RATE_LIMITED:
            metrics.record_rate_limited(model)
        elif result.outcome is Outcome.OVERLOADED:
            metrics.record_overloaded(model)
        metrics.set_limit(model, limit)
        if cost is not None:
            metrics.record_cost(model, cost.kinds())


def _record_chat(span: Span, result: CallResult) -> None:
    tracing.record_chat_result(
        span,
        response_id=result.response_id,
        response_model=result.model,
        finish_reason=result.finish_reason,
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        cache_read=result.usage.cache_read_input_tokens,
        cache_creation=result.usage.cache_creation_input_tokens,
        error_type=None if result.outcome.disposition is Disposition.DONE else result.error_class,
        request_id=result.request_id,
        http_status=result.http_status,
    )


class ProcessorTelemetry(NullProcessorObserver):
    """``process`` and ``send`` spans, document and commit metrics."""

    def __init__(self, metrics: Metrics, group: str) -> None:
        self._metrics = metrics
        self._group = group

    @contextmanager
    def processing(self, record: RawRecord) -> Iterator[None]:
        with tracing.process_span(
            record.topic, record.partition, record.offset, record.key, self._group, record.headers
        ):
            yield

    @contextmanager
    def sending(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Iterator[DeliveryRecorder]:
        with tracing.send_span(topic, key=key, headers=headers) as span:

            def delivered(partition: int, offset: int) -> None:
                tracing.record_delivery(span, partition=partition, offset=offset)

            yield delivered

    def completed(self, output: Output) -> None:
        if output.failure is None:
            self._metrics.record_document(Outcome.SUCCESS, dead_lettered=False)
        else:
            self._metrics.record_document(output.failure.outcome, dead_lettered=True)

    def committed(self, seconds: float) -> None:
        self._metrics.record_commit(seconds)
