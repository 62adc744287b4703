"""The call path and the processor say what happened once, to their observer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stream.calls import Caller
from stream.claude.cost import Cost
from stream.claude.instant import InstantClaudeClient
from stream.claude.types import CallRequest, CallResult
from stream.concurrency import CircuitBreaker, ManualClock
from stream.config import load_settings
from stream.errors import Outcome
from stream.handler import RecordHandler
from stream.observers import (
    AttemptRecorder,
    DeliveryRecorder,
    NullCallObserver,
    NullProcessorObserver,
)
from stream.ports import Output, RawRecord
from stream.processor import Processor, StopPolicy
from stream.telemetry.metrics import Metrics
from stream.worker import build_caller, load_pipelines
from tests.processor.fake_ports import FakeSink, FakeSource


class _CallEvents(NullCallObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    @contextmanager
    def attempt(self, request: CallRequest, attempt: int) -> Iterator[AttemptRecorder]:
        self.events.append(("attempt", attempt))
        yield lambda result: self.events.append(("answered", result.outcome))

    @contextmanager
    def backing_off(self, seconds: float) -> Iterator[None]:
        self.events.append(("backoff", seconds > 0))
        yield

    def settled(self, model: str, result: CallResult, cost: Cost | None, limit: int) -> None:
        self.events.append(("settled", cost is not None and cost.total > 0))


async def test_the_caller_reports_each_attempt_once_and_prices_only_billed_ones() -> None:
    clock = ManualClock(auto_advance=True)
    settings = load_settings()
    observer = _CallEvents()
    client = InstantClaudeClient(script={"d": [Outcome.TRANSIENT]})
    caller = Caller(
        client,
        settings.limits,
        clock,
        breaker=CircuitBreaker(clock),
        observer=observer,
        prices=settings.claude.prices,
    )
    request = CallRequest(
        model="claude-sonnet-4-6", system="s", user="u", max_tokens=10, document_id="d"
    )

    record = await caller.call(request)

    assert record.outcome is Outcome.SUCCESS
    assert observer.events == [
        ("attempt", 1),
        ("answered", Outcome.TRANSIENT),
        ("settled", False),
        ("backoff", True),
        ("attempt", 2),
        ("answered", Outcome.SUCCESS),
        ("settled", True),
    ]


class _ProcessorEvents(NullProcessorObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    @contextmanager
    def sending(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Iterator[DeliveryRecorder]:
        yield lambda partition, offset: self.events.append(("delivered", topic))

    def dispatched(self, record: RawRecord) -> None:
        self.events.append(("dispatched", record.offset))

    def completed(self, output: Output) -> None:
        self.events.append(("completed", output.failure is None))

    def committed(self, seconds: float) -> None:
        self.events.append(("committed", seconds >= 0))


async def test_the_processor_tells_its_observer_each_dispatch_delivery_completion_commit() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_doc(0, "a")
    source.add(0, b"{not json")
    settings = load_settings(
        None,
        {
            "kafka.topics.results": "out",
            "kafka.topics.dlq": "dlq",
            "processing.ordering": "partition",
        },
    )
    pipelines, default = load_pipelines(settings, None)
    caller = build_caller(settings, InstantClaudeClient(), clock, Metrics())
    observer = _ProcessorEvents()
    processor = Processor(
        settings,
        source=source,
        sink=sink,
        handler=RecordHandler(settings, caller, pipelines, default),
        clock=clock,
        observer=observer,
        stop=StopPolicy(max_documents=2),
    )

    assert await processor.run() == 0

    assert observer.events == [
        ("dispatched", 0),
        ("dispatched", 1),
        ("delivered", "out"),
        ("completed", True),
        ("delivered", "dlq"),
        ("completed", False),
        ("committed", True),
    ]
