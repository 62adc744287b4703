"""docstream's pipeline as a step of a Faust agent: ``async for outcome in
stage.process(stream)``.

One agent actor pulls events and runs each document in its own task; every Claude call
goes through the stage's controller (limiter, pacer, retry-after gate, breaker), so the
concurrency is the limiter's, not ``agent(concurrency=N)``'s. Each document ends as a
result or DLQ record (the worker's records and headers), sent with the app's producer
inside a ``process <topic>`` span that continues the event's trace context. A failed
write is handled as in the worker (``stream.delivery``): resent while the broker's
trouble lasts, a dead letter only if the broker refused that one result.

Acks: an event is acked only after its result or DLQ record was acknowledged by the
broker, after the agent body has seen its outcome (the ``async for`` asked for the next
one), and after every earlier event of its partition was acked (see ``acks.py``). Faust
commits acked offsets, so a crash redelivers whatever was not finished: at least once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from faust import Stream
from faust.agents import current_agent
from faust.exceptions import ImproperlyConfigured
from faust.types import AppT, EventT, StreamT

from stream.claude import ClaudeClient
from stream.concurrency import MonotonicClock
from stream.config import Settings
from stream.delivery import Delivery
from stream.errors import FatalOutcome
from stream.faust.acks import InOrderAcks, Slot
from stream.faust.sink import FaustSink
from stream.library import Docstream, typed_output
from stream.models import DeadLetter, Result
from stream.ports import Output, RawRecord, ResultSink
from stream.telemetry.observer import ProcessorTelemetry

__all__ = ["LLMStage"]

log = logging.getLogger(__name__)

_Done = tuple[Slot[EventT[Any]], Result | DeadLetter]


class LLMStage:
    """Build once per app (module level, beside the agents) and share it between agents:
    one stage = one controller per Claude account and model in this worker."""

    def __init__(
        self,
        app: AppT,
        settings: Settings | None = None,
        /,
        *,
        pipeline: str | None = None,
        client: ClaudeClient | None = None,
        sink: ResultSink | None = None,
        **keywords: Any,
    ) -> None:
        """``sink``: where results and dead letters go; the app's producer by default."""
        keywords.setdefault("group_id", app.conf.id)  # DLQ context names the Faust group
        self._docstream = Docstream(settings, pipeline=pipeline, client=client, **keywords)
        settings = self._docstream.settings
        self._observer = ProcessorTelemetry(self._docstream.metrics, settings.kafka.group_id)
        self._delivery = Delivery(
            sink or FaustSink(app),
            self._docstream.handler.dead_letter,
            clock=MonotonicClock(),
            observer=self._observer,
            # The stage stops by cancellation: Faust cancels the agent after its drain (at
            # once without stream_wait_empty), which ends a resend loop with the event
            # unacked. The drain itself waits for that event, so resending goes on through
            # it: a broker's trouble passes, and the stop then ends with nothing to redo.
            stopping=lambda: False,
        )

    @property
    def docstream(self) -> Docstream:
        """The engine: settings, caller (controller state), metrics."""
        return self._docstream

    async def aclose(self) -> None:
        await self._docstream.aclose()

    async def process(self, stream: Stream[Any]) -> AsyncIterator[Result | DeadLetter]:
        """Yield each event's Result or DeadLetter as it finishes (not in offset order)."""
        _refuse_agent_concurrency()
        manual = stream.noack()
        acks: InOrderAcks[EventT[Any]] = InOrderAcks()  # this agent's stream only
        done: asyncio.Queue[_Done] = asyncio.Queue()
        room = asyncio.Semaphore(self._docstream.settings.processing.buffer_size)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._feed(manual, acks, group, room, done))
            while True:
                slot, outcome = await done.get()
                yield outcome  # resumed when the agent body asks for the next outcome
                for event in acks.finish(slot):
                    await manual.ack(event)
                    room.release()

    async def _feed(
        self,
        stream: StreamT[Any],
        acks: InOrderAcks[EventT[Any]],
        group: asyncio.TaskGroup,
        room: asyncio.Semaphore,
        done: asyncio.Queue[_Done],
    ) -> None:
        async for event in stream.events():
            await room.acquire()  # buffer_size events in flight, then Faust's buffer fills
            slot = acks.arrived(event.message.tp, event)
            group.create_task(self._one(slot, done))

    async def _one(self, slot: Slot[EventT[Any]], done: asyncio.Queue[_Done]) -> None:
        record = _raw_record(slot.event)
        self._observer.dispatched(record)
        with self._observer.processing(record):  # the worker's spans and metrics
            output = await self._handle(record)
            sent = await self._delivery.deliver(record, output)
        if sent is None:
            return  # given up on a stop (not the stage's: see stopping): stays unacked
        self._observer.completed(sent)
        await done.put((slot, typed_output(sent)))

    async def _handle(self, record: RawRecord) -> Output:
        try:
            return await self._docstream.handle(record)
        except FatalOutcome as fatal:
            # Auth or unknown model: the fatal gate is shut for good and no document is at
            # fault. Never DLQ, never ack: Faust commits nothing past this event. Held
            # until the worker is killed (a graceful stop waits for it: stream_wait_empty).
            log.debug("%s: holding %s/%d@%d", fatal, record.topic, record.partition, record.offset)
            await asyncio.Event().wait()
            raise AssertionError("unreachable") from fatal


def _refuse_agent_concurrency() -> None:
    agent = current_agent()
    if agent is not None and agent.concurrency > 1:
        raise ImproperlyConfigured(
            f"agent {agent.name}: use concurrency=1 with LLMStage; the stage runs documents "
            "concurrently itself, as far as docstream's limiter allows (limits.*_concurrency)"
        )


def _raw_record(event: EventT[Any]) -> RawRecord:
    """The event's bytes as received, whatever serializers the topic declares."""
    message = event.message
    headers = message.headers or ()
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    return RawRecord(
        message.topic,
        message.partition,
        message.offset,
        int(message.timestamp * 1000),
        message.key,
        message.value,
        tuple((str(name), bytes(value)) for name, value in pairs),
    )
