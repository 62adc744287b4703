"""What the call path and the processor report, as two observer interfaces.

The core (``stream.calls``, ``stream.processor``) says what happened once, to its
observer; ``stream.telemetry.observer`` maps that to spans and metrics, benchmarks add
their own. The no-op observers here keep the core usable with no telemetry at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stream.claude.cost import Cost
    from stream.claude.types import CallRequest, CallResult
    from stream.ports import Output, RawRecord

__all__ = [
    "AttemptRecorder",
    "CallObserver",
    "DeliveryRecorder",
    "NullCallObserver",
    "NullProcessorObserver",
    "ProcessorObserver",
    "ProcessorObservers",
]

AttemptRecorder = Callable[["CallResult"], None]
"""Told the classified result of an attempt, inside the attempt's scope."""

DeliveryRecorder = Callable[[int, int], None]
"""Told (partition, offset) once the broker acknowledged an output record."""


class CallObserver(Protocol):
    def waiting(self, kind: str, model: str) -> AbstractContextManager[None]:
        """Around a wait for a call's turn (breaker, retry-after gate, pacer, limiter)."""
        ...

    def backing_off(self, seconds: float) -> AbstractContextManager[None]:
        """Around the backoff before a retry, ``seconds`` planned."""
        ...

    def attempt(
        self, request: CallRequest, attempt: int
    ) -> AbstractContextManager[AttemptRecorder]:
        """Around one call to Claude; the recorder gets its result before the scope ends."""
        ...

    def settled(self, model: str, result: CallResult, cost: Cost | None, limit: int) -> None:
        """After the limiter, pacer and breaker took the result; ``cost`` if billed."""
        ...


class ProcessorObserver(Protocol):
    def processing(self, record: RawRecord) -> AbstractContextManager[None]:
        """Around one record, from dispatch to its acknowledged output."""
        ...

    def sending(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> AbstractContextManager[DeliveryRecorder]:
        """Around one output record's send; may add headers (trace context) on entry."""
        ...

    def dispatched(self, record: RawRecord) -> None: ...

    def completed(self, output: Output) -> None:
        """A record's output was acknowledged and its offset completed."""
        ...

    def committed(self, seconds: float) -> None: ...


class NullCallObserver:
    """Observes nothing; subclass it to observe a part."""

    def waiting(self, kind: str, model: str) -> AbstractContextManager[None]:
        del kind, model
        return contextlib.nullcontext()

    def backing_off(self, seconds: float) -> AbstractContextManager[None]:
        del seconds
        return contextlib.nullcontext()

    def attempt(
        self, request: CallRequest, attempt: int
    ) -> AbstractContextManager[AttemptRecorder]:
        del request, attempt
        return contextlib.nullcontext(_ignore_result)

    def settled(self, model: str, result: CallResult, cost: Cost | None, limit: int) -> None:
        del model, result, cost, limit


class NullProcessorObserver:
    """Observes nothing; subclass it to observe a part."""

    def processing(self, record: RawRecord) -> AbstractContextManager[None]:
        del record
        return contextlib.nullcontext()

    def sending(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> AbstractContextManager[DeliveryRecorder]:
        del topic, key, headers
        return contextlib.nullcontext(_ignore_delivery)

    def dispatched(self, record: RawRecord) -> None:
        del record

    def completed(self, output: Output) -> None:
        del output

    def committed(self, seconds: float) -> None:
        del seconds


class ProcessorObservers:
    """Several processor observers as one, told in order (scopes nest in that order)."""

    def __init__(self, observers: Sequence[ProcessorObserver]) -> None:
        self._observers = tuple(observers)

    @contextlib.contextmanager
    def processing(self, record: RawRecord) -> Iterator[None]:
        with ExitStack() as stack:
            for observer in self._observers:
                stack.enter_context(observer.processing(record))
            yield

    @contextlib.contextmanager
    def sending(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Iterator[DeliveryRecorder]:
        with ExitStack() as stack:
            recorders = [
                stack.enter_context(o.sending(topic, key, headers)) for o in self._observers
            ]

            def delivered(partition: int, offset: int) -> None:
                for recorder in recorders:
                    recorder(partition, offset)

            yield delivered

    def dispatched(self, record: RawRecord) -> None:
        for observer in self._observers:
            observer.dispatched(record)

    def completed(self, output: Output) -> None:
        for observer in self._observers:
            observer.completed(output)

    def committed(self, seconds: float) -> None:
        for observer in self._observers:
            observer.committed(seconds)


def _ignore_result(result: CallResult) -> None:
    del result


def _ignore_delivery(partition: int, offset: int) -> None:
    del partition, offset
