"""Sending an admitted answer: when each byte goes out, and the ways it can go wrong.

An answer is planned as *steps* — (delay, bytes) pairs — and played with
``loop.call_later``, not a task per request: a plain answer is one step after the
latency; a stream is the opening events after the time to first token, then deltas
spread over the rest. With zero latency the whole answer is written synchronously in the
same call that parsed the request, which is what makes the ceiling high. Delivery faults
bend the plan: ``hang`` sends nothing, ``reset`` sends half and closes the socket.
"""

from __future__ import annotations

import asyncio
import math

from stream.simulator import wire
from stream.simulator.cache import InputUsage
from stream.simulator.http import Exchange
from stream.simulator.state import SimState
from stream.simulator.text import Completion

__all__ = ["Delivery", "Step", "plan_message", "plan_stream", "plan_stream_error"]

Step = tuple[float, bytes]
_MAX_DELTAS = 64


def plan_message(
    model_json: str,
    tokens_in: InputUsage,
    completion: Completion,
    message_id: str,
    headers: str,
    latency: float,
    keep_alive: bool,
) -> list[Step]:
    """A whole Message after ``latency``."""
    body = wire.message_body(
        message_id,
        model_json,
        completion.text,
        completion.stop_reason,
        tokens_in,
        completion.output_tokens,
    )
    return [(latency, wire.head(200, headers, wire.JSON, len(body), keep_alive) + body)]


def plan_stream(
    model_json: str,
    tokens_in: InputUsage,
    completion: Completion,
    message_id: str,
    headers: str,
    latency: float,
    first_byte: float,
    keep_alive: bool,
) -> list[Step]:
    """Server-sent events: opening after ``first_byte``, deltas until ``latency``."""
    n = completion.output_tokens
    deltas = completion.chunks(max(4, math.ceil(n / _MAX_DELTAS)))
    opening, middle, closing = wire.sse_message_events(
        message_id, model_json, deltas, completion.stop_reason, tokens_in, n
    )
    gap = max(0.0, latency - first_byte) / max(1, len(middle))
    steps: list[Step] = [
        (first_byte, wire.head(200, headers, wire.SSE, None, keep_alive) + wire.chunk(opening))
    ]
    steps.extend((gap, wire.chunk(event)) for event in middle)
    steps.append((0.0, wire.chunk(closing) + wire.LAST_CHUNK))
    return _coalesce(steps)


def plan_stream_error(
    model_json: str,
    tokens_in: InputUsage,
    message_id: str,
    request_id: str,
    headers: str,
    first_byte: float,
    keep_alive: bool,
) -> list[Step]:
    """A 200 stream that starts, then reports ``overloaded_error`` and ends."""
    start = wire.sse_message_start(message_id, model_json, tokens_in)
    error = wire.sse_error("overloaded_error", "Overloaded", request_id)
    head = wire.head(200, headers, wire.SSE, None, keep_alive)
    return [(first_byte, head + wire.chunk(start) + wire.chunk(error) + wire.LAST_CHUNK)]


def _coalesce(steps: list[Step]) -> list[Step]:
    """Merge steps that need no wait into the one before (fewer writes, fewer timers)."""
    merged: list[tuple[float, list[bytes]]] = []
    for delay, data in steps:
        if merged and delay <= 0:
            merged[-1][1].append(data)
        else:
            merged.append((delay, [data]))
    return [(delay, b"".join(parts)) for delay, parts in merged]


def _halve(steps: list[Step]) -> list[Step]:
    """Keep the head and the first half of the body (for the ``reset`` fault)."""
    head_end = steps[0][1].find(b"\r\n\r\n") + 4
    total = sum(len(data) for _, data in steps)
    remaining = head_end + (total - head_end) // 2
    kept: list[Step] = []
    for delay, data in steps:
        kept.append((delay, data[:remaining]))
        remaining -= len(data)
        if remaining <= 0:
            break
    return kept


class Delivery:
    """Plays the steps of one admitted answer and settles its accounts exactly once."""

    __slots__ = (
        "_handle",
        "_released",
        "ex",
        "fault",
        "max_tokens",
        "output_tokens",
        "st",
        "steps",
    )

    def __init__(
        self,
        ex: Exchange,
        st: SimState,
        steps: list[Step],
        fault: str | None,
        output_tokens: int,
        max_tokens: int,
    ) -> None:
        self.ex = ex
        self.st = st
        self.steps = _halve(steps) if fault == "reset" else steps
        self.fault = fault
        self.output_tokens = output_tokens
        self.max_tokens = max_tokens
        self._handle: asyncio.TimerHandle | None = None
        self._released = False

    def start(self) -> None:
        self.ex.on_abort = self._client_left
        if self.fault != "hang":  # a hang waits for the client to give up
            self._run(0, False)

    def _run(self, index: int, waited: bool) -> None:
        self._handle = None
        steps = self.steps
        while index < len(steps):
            delay, data = steps[index]
            if delay > 0 and not waited:
                loop = asyncio.get_running_loop()
                self._handle = loop.call_later(delay, self._run, index, True)
                return
            waited = False
            self.ex.write(data)
            index += 1
        self._complete()

    def _complete(self) -> None:
        self._release()
        stats, now = self.st.stats, self.st.now()
        if self.fault == "reset":
            stats.dropped_connection(now)
            self.ex.abort()
            return
        if self.fault == "overloaded_stream":
            stats.stream_error(now)
            stats.answered(now, 200)
        else:
            stats.answered(now, 200, self.output_tokens)
        self.ex.finish()

    def _client_left(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._release()
        self.st.stats.dropped_connection(self.st.now())

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self.st.inflight -= 1
            self.st.limiter.settle(self.max_tokens, self.output_tokens)
