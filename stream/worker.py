"""Assemble a worker from Settings and run it until it stops (``docstream run``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from stream.calls import Caller
from stream.claude import ClaudeClient, make_client
from stream.concurrency import CircuitBreaker, Clock, MonotonicClock
from stream.config import Settings
from stream.handler import RecordHandler
from stream.kafka.producer import KafkaSink
from stream.kafka.source import KafkaSource
from stream.pipeline import BUILTIN_PIPELINES, Pipeline, load_pipeline
from stream.processor import Processor, StopPolicy, WorkerStats

__all__ = ["WorkerReport", "build_caller", "load_pipelines", "run_worker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerReport:
    exit_code: int
    stats: WorkerStats
    elapsed_s: float
    pipeline: str
    attempt_outcomes: Mapping[str, int]


def load_pipelines(settings: Settings, selected: str | None) -> tuple[dict[str, Pipeline], str]:
    """Every built-in pipeline plus the configured file; returns (by name, default name)."""
    claude = settings.claude
    pipelines = {
        name: load_pipeline(
            name, default_model=claude.model, default_max_tokens=claude.max_tokens
        )
        for name in BUILTIN_PIPELINES
    }
    source = selected or (
        str(settings.processing.pipeline_file) if settings.processing.pipeline_file else None
    )
    if source is None:
        return pipelines, "summarize"
    chosen = load_pipeline(source, default_model=claude.model, default_max_tokens=claude.max_tokens)
    pipelines[chosen.name] = chosen
    return pipelines, chosen.name


def build_caller(settings: Settings, client: ClaudeClient, clock: Clock) -> Caller:
    limits = settings.limits
    breaker = CircuitBreaker(
        clock,
        failure_threshold=limits.breaker_failures,
        error_rate=limits.breaker_error_rate,
        window_s=30.0,
        min_calls=20,
        open_s=limits.breaker_open_s,
    )
    return Caller(client, limits, clock, breaker=breaker)


async def run_worker(
    settings: Settings,
    *,
    stop: StopPolicy = StopPolicy(),
    pipeline: str | None = None,
    client: ClaudeClient | None = None,
    on_start: Callable[[Processor], None] | None = None,
) -> WorkerReport:
    """Run one worker process until a stop condition, a signal, or a fatal outcome."""
    clock = MonotonicClock()
    pipelines, default = load_pipelines(settings, pipeline)
    own_client = client is None
    claude = client or make_client(settings, pool_size=settings.limits.max_concurrency)
    caller = build_caller(settings, claude, clock)
    started = clock.now()
    try:
        async with KafkaSink(settings.kafka) as sink:
            processor = Processor(
                settings,
                source=KafkaSource(settings.kafka, settings.kafka.topics.input),
                sink=sink,
                handler=RecordHandler(settings, caller, pipelines, default),
                clock=clock,
                stop=stop,
            )
            _watch_breaker(caller, processor)
            if on_start is not None:
                on_start(processor)
            async with _signals(processor):
                code = await processor.run()
    finally:
        if own_client:
            await claude.aclose()
    outcomes = {o.value: n for o, n in caller.outcomes.items()}
    return WorkerReport(code, processor.stats, clock.now() - started, default, outcomes)


def _watch_breaker(caller: Caller, processor: Processor) -> None:
    def on_transition(old: str, new: str) -> None:
        log.warning("circuit breaker %s -> %s", old, new)
        processor.set_paused("breaker", new == "open")

    caller.breaker.on_transition.append(on_transition)


@contextlib.asynccontextmanager
async def _signals(processor: Processor) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, processor.request_stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
