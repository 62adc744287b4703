"""Assemble a worker from Settings and run it until it stops (``docstream run``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from stream.backlog_board import BacklogBoard, keep_share, own_backlog
from stream.calls import Caller
from stream.claude import ClaudeClient, make_client_warming
from stream.claude.warming import WarmingClaudeClient
from stream.concurrency import (
    BreakerState,
    CircuitBreaker,
    Clock,
    GateChange,
    GateState,
    MonotonicClock,
)
from stream.config import Settings
from stream.dedup import DedupStore
from stream.dedup.kafka_store import open_dedup_store
from stream.handler import RecordHandler
from stream.kafka.admin import require_topics
from stream.kafka.backlog_channel import open_backlog_channel
from stream.kafka.finished_store import open_finished_ledger
from stream.kafka.producer import KafkaSink
from stream.kafka.source import KafkaSource
from stream.observers import ProcessorObserver, ProcessorObservers
from stream.pipeline import BUILTIN_PIPELINES, Pipeline, load_pipeline
from stream.processor import Processor, StopPolicy, WorkerStats
from stream.progress import LiveProgress, ProgressSnapshot, ProgressTracker, build_snapshot
from stream.startup_gc import freeze_after
from stream.telemetry.endpoints import Endpoints, Page, Readiness
from stream.telemetry.metrics import Metrics, MetricTotals
from stream.telemetry.observer import CallTelemetry, ProcessorTelemetry
from stream.worker_state import WorkerState, WorkerView, describe, longest_hold

__all__ = [
    "WorkerReport",
    "build_caller",
    "connect_controls",
    "load_pipelines",
    "run_worker",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerReport:
    exit_code: int
    stats: WorkerStats
    elapsed_s: float
    pipeline: str
    attempt_outcomes: Mapping[str, int]
    totals: MetricTotals  # tokens and cost over every attempt, as billed


def load_pipelines(settings: Settings, selected: str | None) -> tuple[dict[str, Pipeline], str]:
    """Every built-in pipeline plus the configured file; returns (by name, default name)."""
    claude = settings.claude
    pipelines = {
        name: load_pipeline(name, default_model=claude.model, default_max_tokens=claude.max_tokens)
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


def build_caller(
    settings: Settings, client: ClaudeClient, clock: Clock, metrics: Metrics
) -> Caller:
    """The caller of a worker; its first calls wait for a client still being built."""
    limits = settings.limits
    breaker = CircuitBreaker(
        clock,
        failure_threshold=limits.breaker_failures,
        error_rate=limits.breaker_error_rate,
        window_s=30.0,
        min_calls=20,
        open_s=limits.breaker_open_s,
    )
    caller = Caller(
        client,
        limits,
        clock,
        breaker=breaker,
        observer=CallTelemetry(metrics, clock.now),
        prices=settings.claude.prices,
        client_ready=_client_built(client) if isinstance(client, WarmingClaudeClient) else None,
    )
    caller.spend.add_listener(metrics.set_spend_budget)
    return caller


async def run_worker(
    settings: Settings,
    *,
    stop: StopPolicy | None = None,
    pipeline: str | None = None,
    client: ClaudeClient | None = None,
    progress: bool = False,
    on_start: Callable[[Processor], None] | None = None,
    observer: ProcessorObserver | None = None,
    metrics_page: Callable[[], Page] | None = None,
    on_signal: Callable[[], None] | None = None,
    freeze_gc: bool = False,
) -> WorkerReport:
    """Run one worker process until a stop condition, a signal, or a fatal outcome.

    ``observer`` is told what the processor does, after telemetry (benchmarks use it).
    With ``telemetry.http_port`` the worker serves /livez, /readyz and, given
    ``metrics_page`` (``TelemetryHandle.prometheus_page``), /metrics. ``on_signal`` is
    called at each SIGTERM/SIGINT too (the CLI arms its ``ShutdownWatchdog`` there).
    ``freeze_gc``: the caller owns the process, and start-up's objects may be frozen out
    of the cyclic GC once the Claude client is built (``stream.startup_gc``)."""
    clock = MonotonicClock()
    pipelines, default = load_pipelines(settings, pipeline)
    own_client = client is None
    # Built in a thread while the worker joins its group: the SDK import is most of
    # our share of a cold start (README, "Cold start").
    claude = client or make_client_warming(settings, pool_size=settings.limits.max_concurrency)
    metrics = Metrics(group=settings.kafka.group_id)
    caller = build_caller(settings, claude, clock, metrics)
    started = clock.now()
    try:
        # A group subscribed to a topic that does not exist waits forever, silently.
        await require_topics(settings.kafka, [settings.kafka.topics.input])
        async with KafkaSink(settings.kafka) as sink, _dedup(settings, sink) as dedup:
            ledger = (
                await open_finished_ledger(settings.kafka, sink)
                if settings.processing.skip_finished
                else None
            )
            processor = Processor(
                settings,
                source=KafkaSource(settings.kafka, settings.kafka.topics.input),
                sink=sink,
                handler=RecordHandler(settings, caller, pipelines, default, dedup=dedup),
                clock=clock,
                observer=_observers(settings, metrics, observer),
                stop=stop or StopPolicy(),
                finished=ledger,
            )
            connect_controls(caller, processor, metrics)
            unregister_lag = metrics.observe_lag(processor.lag)
            if on_start is not None:
                on_start(processor)
            finished = asyncio.Event()

            def state() -> WorkerState:
                return describe(_view(processor, caller, clock, finished))

            async with (
                freeze_after(_client_built(claude) if freeze_gc else None),
                _signals(processor, on_signal),
                _endpoints(settings, state, metrics_page),
                _panel(progress, processor, caller, metrics, clock, state),
                _backlog_board(settings, sink, processor, caller, clock),
            ):
                code = await processor.run()
                finished.set()
            unregister_lag()
    finally:
        metrics.close()
        if own_client:
            await claude.aclose()
    outcomes = {o.value: n for o, n in caller.outcomes.items()}
    return WorkerReport(
        code, processor.stats, clock.now() - started, default, outcomes, metrics.totals()
    )


def _client_built(claude: ClaudeClient) -> Callable[[], Awaitable[object]]:
    if isinstance(claude, WarmingClaudeClient):
        return claude.client
    return lambda: asyncio.sleep(0)


@contextlib.asynccontextmanager
async def _dedup(settings: Settings, sink: KafkaSink) -> AsyncIterator[DedupStore | None]:
    """The dedup store with ``processing.dedup``, else None."""
    if not settings.processing.dedup:
        yield None
        return
    async with open_dedup_store(settings, sink) as store:
        yield store


@contextlib.asynccontextmanager
async def _backlog_board(
    settings: Settings, sink: KafkaSink, processor: Processor, caller: Caller, clock: Clock
) -> AsyncIterator[None]:
    """With ``limits.backlog_board``: the share of the account from the group's backlogs
    (``stream.backlog_board``), kept by a task that ends with the worker."""
    if not settings.limits.backlog_board:
        yield
        return
    channel = await open_backlog_channel(settings.kafka, sink)
    board = BacklogBoard(settings.kafka.group_id, settings.processing.worker_id)

    def backlog() -> int:
        return own_backlog(processor.lag(), processor.tracker.finished_above())

    async with asyncio.TaskGroup() as group:
        keep = keep_share(
            channel, board, backlog, caller.set_board_share, clock, caps=caller.cap_shares
        )
        task = group.create_task(keep)
        try:
            yield
        finally:
            task.cancel()


def _view(
    processor: Processor, caller: Caller, clock: Clock, finished: asyncio.Event
) -> WorkerView:
    controls = caller.controls
    return WorkerView(
        finished=finished.is_set(),
        assigned=processor.assigned,
        pause_reasons=processor.pause_reasons,
        budget_waits=tuple(w for c in controls.values() if (w := c.pacer.blocked_on)),
        retry_after_s=longest_hold(clock, (caller.gate.blocked_until(m) for m in controls)),
    )


@contextlib.asynccontextmanager
async def _endpoints(
    settings: Settings, state: Callable[[], WorkerState], metrics_page: Callable[[], Page] | None
) -> AsyncIterator[None]:
    """/livez, /readyz and /metrics on ``telemetry.http_port`` while the worker runs."""
    telemetry = settings.telemetry
    if telemetry.http_port is None:
        yield
        return

    def ready() -> Readiness:
        now = state()
        return Readiness(now.ready, now.title)

    async with Endpoints(
        telemetry.http_host, telemetry.http_port, ready=ready, metrics=metrics_page
    ):
        yield


def _observers(
    settings: Settings, metrics: Metrics, extra: ProcessorObserver | None
) -> ProcessorObserver:
    telemetry = ProcessorTelemetry(metrics, settings.kafka.group_id)
    return telemetry if extra is None else ProcessorObservers([telemetry, extra])


def connect_controls(caller: Caller, processor: Processor, metrics: Metrics) -> None:
    """The caller's breaker and fatal gate pause the processor's consumption; its drain
    stops new Claude calls; the partitions it owns are its first share of the account."""
    _watch_breaker(caller, processor, metrics)
    _watch_fatal_gate(caller, processor)
    processor.on_drain.append(caller.stop_new_calls)
    processor.on_assignment.append(lambda owned, total: caller.set_share_hint(owned / total))


def _watch_fatal_gate(caller: Caller, processor: Processor) -> None:
    """One log line per state change of the fatal gate, never one per call."""

    def on_change(change: GateChange) -> None:
        closed = change.state is not GateState.OPEN
        terminal = change.state is GateState.CLOSED and change.probe_at is None
        processor.fatal_paused(closed, terminal=terminal)
        if change.state is GateState.OPEN:
            log.warning("fatal gate open: the probe call succeeded; calls resume")
        elif change.state is GateState.PROBING:
            log.info("fatal gate: one probe call (%s)", change.reason)
        elif terminal:
            log.error(
                "%s: %s; every call held, commits frozen, nothing dead-lettered; exiting "
                "in %.0f s unless stopped first",
                change.reason,
                change.message,
                caller.fatal_gate.pause_s,
            )
        else:
            log.error(
                "%s: %s; every call held, consumption paused; one probe call in %.0f s "
                "(%d more calls met it meanwhile)",
                change.reason,
                change.message,
                caller.fatal_gate.pause_s,
                change.repeats,
            )

    caller.fatal_gate.on_change.append(on_change)


def _watch_breaker(caller: Caller, processor: Processor, metrics: Metrics) -> None:
    def on_transition(old: BreakerState, new: BreakerState) -> None:
        log.warning("circuit breaker %s -> %s", old.value, new.value)
        processor.set_paused("breaker", new is BreakerState.OPEN)
        metrics.set_breaker_state(new.value)

    caller.breaker.on_transition.append(on_transition)
    processor.on_tick.append(lambda: caller.breaker.state)


@contextlib.asynccontextmanager
async def _signals(
    processor: Processor, on_signal: Callable[[], None] | None
) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    installed = []

    def stop() -> None:
        processor.request_stop()
        if on_signal is not None:
            on_signal()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def _panel(
    enabled: bool,
    processor: Processor,
    caller: Caller,
    metrics: Metrics,
    clock: Clock,
    state: Callable[[], WorkerState],
) -> AsyncIterator[None]:
    """The live terminal panel of ``docstream run --progress``."""
    if not enabled:
        yield
        return
    started = clock.now()
    tracker = ProgressTracker(clock=clock.now)

    def snapshot() -> ProgressSnapshot:
        lag = processor.lag()
        return build_snapshot(
            metrics.totals(),
            tracker,
            elapsed_s=clock.now() - started,
            inflight=sum(c.limiter.inflight for c in caller.controls.values()),
            limit=sum(c.limiter.limit for c in caller.controls.values()),
            lag=sum(lag.values()) if lag else None,
            state=state(),
            budgets=caller.spend.remaining(),
        )

    async with LiveProgress(snapshot):
        yield
