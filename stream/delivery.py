"""Delivery: one record's output to the broker, and what a failed write becomes.

The processor hands over what a record became and learns what was written, so it knows
whether the record's offset may be completed:

- A write that fails retriably (``SendFailed.retriable``: a leader moving, a broker
  timeout) is the broker's trouble, not the record's: the same output is sent again
  after a backoff on the injected clock, for as long as the worker runs. The record
  stays unfinished meanwhile, so its offset is not committed. A stop gives it up unsent
  (``None``): uncommitted, it is redelivered, never dead-lettered for a hiccup.
- A write the broker refuses for that one record (too large) turns a result into an
  ``output_rejected`` dead letter; a dead letter refused that way raises, so the worker
  stops with nothing committed past it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from stream.concurrency import Clock
from stream.errors import Failure, Outcome
from stream.logstate import StateLog
from stream.observers import ProcessorObserver
from stream.ports import Output, RawRecord, ResultSink, SendFailed

__all__ = ["DeadLetterer", "Delivery"]

log = logging.getLogger(__name__)

DeadLetterer = Callable[[RawRecord, Failure], Output]
"""What a record whose result the broker refused becomes (``RecordHandler.dead_letter``)."""

# Retriable failures: the first resend after this long, doubling up to the cap.
_RETRY_FIRST_S = 0.1
_RETRY_MAX_S = 5.0


class Delivery:
    def __init__(
        self,
        sink: ResultSink,
        dead_letter: DeadLetterer,
        *,
        clock: Clock,
        observer: ProcessorObserver,
        stopping: Callable[[], bool],
    ) -> None:
        self._sink = sink
        self._dead_letter = dead_letter
        self._clock = clock
        self._observer = observer
        self._stopping = stopping
        self._enqueue = asyncio.Lock()  # see _send
        self._retries = StateLog(log, "sends")

    async def deliver(self, record: RawRecord, output: Output) -> Output | None:
        """Write ``output``, or a dead letter if the broker refused it; what was written,
        or None if a stop came while the broker kept failing it."""
        try:
            return output if await self._send_retrying(output) else None
        except SendFailed as exc:
            if output.failure is not None:
                raise  # the DLQ itself refused it: stop, commit nothing past this record
            log.warning(
                "result for offset %d not accepted (%s); dead-lettering", record.offset, exc
            )
            now = datetime.now(UTC)
            cause = type(exc.__cause__ or exc).__name__
            letter = self._dead_letter(
                record, Failure(Outcome.BAD_REQUEST, "output_rejected", cause, now, now)
            )
            return letter if await self._send_retrying(letter) else None

    async def _send_retrying(self, output: Output) -> bool:
        backoff = _RETRY_FIRST_S
        while True:
            try:
                await self._send(output)
            except SendFailed as exc:
                if not exc.retriable:
                    raise
                # One line when sends start failing and one when they work again.
                cause = type(exc.__cause__ or exc).__name__
                self._retries.note(f"retriable failures ({cause}), resending")
                if self._stopping():
                    return False
            else:
                self._retries.note(None)
                return True
            await self._clock.sleep(backoff)
            backoff = min(backoff * 2, _RETRY_MAX_S)

    async def _send(self, output: Output) -> None:
        headers = list(output.headers)
        with self._observer.sending(output.topic, output.key, headers) as delivered_at:
            # One record at a time into the producer: when aiokafka's batch for a partition
            # is full, every waiting sender polls it with its own timer, so hundreds of
            # concurrent senders cost dozens of wake-ups per record. Queued on this lock
            # they wake one by one. The broker acknowledgement is awaited outside it.
            async with self._enqueue:
                future = await self._sink.send(
                    output.topic, output.value, key=output.key, headers=headers
                )
            delivered = await future
            delivered_at(delivered.partition, delivered.offset)
