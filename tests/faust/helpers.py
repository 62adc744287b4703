"""A Faust app around LLMStage in the test's event loop, and publishing helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust

from stream.config import Settings
from stream.faust import LLMStage
from stream.kafka.admin import ensure_topics
from stream.kafka.producer import KafkaSink
from stream.models import DeadLetter, Result
from stream.ports import ResultSink

# Faust's group joins on the embedded broker wait half the session timeout
# (research/broker-matrix.md, row h).
FAUST_GROUP_TIMEOUTS = {"broker_session_timeout": 4, "broker_heartbeat_interval": 1}


@dataclass
class RunningApp:
    app: faust.App
    stage: LLMStage
    outcomes: list[Result | DeadLetter] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)  # agent crashes

    async def wait_for(self, count: int, *, timeout_s: float = 60.0) -> None:
        """Until ``count`` outcomes reached the agent body (a bound, not a measurement)."""
        async with asyncio.timeout(timeout_s):
            while len(self.outcomes) < count and not self.errors:  # noqa: ASYNC110 - the agent's list
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def faust_app(
    settings: Settings,
    *,
    concurrency: int = 1,
    app_conf: dict[str, Any] | None = None,
    sink: Callable[[faust.App], ResultSink] | None = None,
    **stage_kw: Any,
) -> AsyncIterator[RunningApp]:
    """The README's shape: documents -> LLMStage -> results/DLQ, outcomes collected;
    ``sink`` builds the stage's sink from the app (default: the app's producer)."""
    app = faust.App(
        settings.kafka.group_id,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        web_enabled=False,
        **FAUST_GROUP_TIMEOUTS,
        **(app_conf or {}),
    )
    documents = app.topic(settings.kafka.topics.input, value_serializer="raw")
    stage = LLMStage(app, settings, sink=sink(app) if sink else None, **stage_kw)
    running = RunningApp(app, stage)

    @app.agent(documents, concurrency=concurrency)
    async def process(stream: faust.Stream[bytes]) -> None:
        try:
            async for outcome in running.stage.process(stream):
                running.outcomes.append(outcome)
        except Exception as exc:
            running.errors.append(exc)
            raise

    await app.start()
    try:
        yield running
    finally:
        await app.stop()
        await running.stage.aclose()


async def publish(
    settings: Settings,
    values: Sequence[bytes],
    *,
    partition: int | None = None,
    headers: Callable[[int], Sequence[tuple[str, bytes]]] = lambda _: (),
) -> None:
    """Create the topics, then send ``values`` (keyless) and wait for every ack."""
    await ensure_topics(settings.kafka)
    async with KafkaSink(settings.kafka) as sink:
        futures = [
            await sink.send(
                settings.kafka.topics.input, value, partition=partition, headers=headers(i)
            )
            for i, value in enumerate(values)
        ]
        await asyncio.gather(*futures)
