"""The broker-neutral ports of the core: records, partitions, and what a source and a sink do.

The processor, the handler, results and DLQ records depend on this module only, never
on ``stream.kafka``: it imports no SDK (as ``stream.claude.types`` does for Claude).
``stream.kafka`` adapts aiokafka to these shapes; tests put in-memory fakes in their
place to drive the processor without a broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stream.errors import Failure

__all__ = [
    "TP",
    "Output",
    "RawRecord",
    "RebalanceCallback",
    "RebalanceHandler",
    "RecordSource",
    "ResultSink",
    "SendFailed",
]

TP = tuple[str, int]
"""A (topic, partition) pair."""


@dataclass(frozen=True, slots=True)
class Output:
    """What one input record became: a result or a dead letter, ready to send."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    failure: Failure | None  # None for a result
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record, bytes untouched: decoding is the handler's job."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # ms since the epoch
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


RebalanceCallback = Callable[[list[TP]], Awaitable[None]]


class RebalanceHandler:
    """What the processor does when partitions come and go."""

    def __init__(self, on_assigned: RebalanceCallback, on_revoked: RebalanceCallback) -> None:
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked


class RecordSource(Protocol):
    """A group member: polls raw records, pauses partitions, commits offsets."""

    async def start(self, handler: RebalanceHandler) -> None: ...
    async def stop(self) -> None: ...
    async def poll(self, *, max_records: int, timeout_s: float) -> Sequence[RawRecord]: ...
    def assignment(self) -> set[TP]: ...
    def partition_count(self) -> int | None: ...  # of the subscribed topic; None: unknown
    def pause(self, tps: Sequence[TP] | set[TP]) -> None: ...
    def resume(self, tps: Sequence[TP] | set[TP]) -> None: ...
    def highwater(self, tp: TP) -> int | None: ...
    async def commit(self, offsets: dict[TP, int]) -> bool: ...


class SendFailed(Exception):
    """A sink could not write a record; raised by ``send`` or set on its future.

    ``retriable``: the broker's trouble (a leader moving, a timeout), so the same record
    may go through if sent again; otherwise the broker refused this record (too large,
    say) and sending it again cannot help. The core decides on this flag alone, so it
    never needs to know the broker's own error types.
    """

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class ResultSink(Protocol):
    """Where the processor writes results and dead letters, one record at a time.

    ``send`` enqueues and returns a future that resolves (to an object with
    ``partition`` and ``offset``) once the broker acknowledged the record. A write that
    fails raises (or fails the future with) ``SendFailed``.
    """

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> asyncio.Future[Any]: ...
