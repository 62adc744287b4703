"""In-memory fakes at the processor's own ports (stream.ports): a source and a sink.

They stand in for a group member and a producer so the Processor's own logic (dispatch,
backpressure, ordering lanes, drain, commit order, fatal freeze) is tested without a
broker. The broker tests in test_worker.py keep covering the Kafka adapters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from stream.calls import Caller
from stream.claude.instant import InstantClaudeClient
from stream.claude.types import CallRequest, CallResult, ClaudeClient
from stream.concurrency import Clock, ManualClock
from stream.config import Settings, load_settings
from stream.handler import RecordHandler
from stream.ports import TP, RawRecord, RebalanceHandler, SendFailed
from stream.processor import Processor, StopPolicy
from stream.telemetry.metrics import Metrics
from stream.worker import build_caller, connect_controls, load_pipelines

__all__ = [
    "DLQ",
    "RESULTS",
    "FakeSink",
    "FakeSource",
    "GatedClaude",
    "Sent",
    "build_processor",
    "build_worker",
    "until",
]


class FakeSource:
    """Partitions as lists (offset = index); pause, resume and commits are recorded."""

    def __init__(self, clock: Clock, topic: str = "docs") -> None:
        self._clock = clock
        self.topic = topic
        self.logs: dict[TP, list[RawRecord]] = {}
        self._fetched: dict[TP, int] = {}
        self.paused: set[TP] = set()
        self.committed: dict[TP, int] = {}
        self.commits: list[dict[TP, int]] = []
        self.commit_error: Exception | None = None
        self.handler: RebalanceHandler | None = None
        self.stopped = False
        self.revoked: set[TP] = set()  # taken away by ``revoke``: no longer fetched
        self.partitions: int | None = None  # of the topic; None: as many as ``logs``

    def add(self, partition: int, value: bytes, key: bytes | None = None) -> RawRecord:
        tp = (self.topic, partition)
        log = self.logs.setdefault(tp, [])
        record = RawRecord(self.topic, partition, len(log), 0, key, value, ())
        log.append(record)
        return record

    def add_doc(self, partition: int, doc_id: str, text: str = "hello") -> RawRecord:
        value = json.dumps({"id": doc_id, "text": text}).encode()
        return self.add(partition, value, key=doc_id.encode())

    def add_docs(self, partition: int, count: int) -> list[str]:
        """``count`` documents ``p<partition>-0``, ``p<partition>-1``, ... in that order."""
        ids = [f"p{partition}-{i}" for i in range(count)]
        for doc_id in ids:
            self.add_doc(partition, doc_id)
        return ids

    async def start(self, handler: RebalanceHandler) -> None:
        self.handler = handler
        for tp in self.logs:
            self._fetched.setdefault(tp, 0)
        await handler.on_assigned(sorted(self.logs))

    async def stop(self) -> None:
        self.stopped = True

    async def poll(self, *, max_records: int, timeout_s: float) -> Sequence[RawRecord]:
        out: list[RawRecord] = []
        for tp in sorted(self.logs):
            if tp in self.paused or tp in self.revoked:
                continue
            log, start = self.logs[tp], self._fetched[tp]
            batch = log[start : start + max_records - len(out)]
            self._fetched[tp] = start + len(batch)
            out.extend(batch)
        if not out:
            await self._clock.sleep(timeout_s)
        return out

    def assignment(self) -> set[TP]:
        return set(self.logs) - self.revoked

    async def revoke(self, tps: list[TP]) -> None:
        """A rebalance takes ``tps`` away: fetching them goes on until the callback ends,
        as aiokafka's may (its fetcher runs while the revoke callback waits)."""
        assert self.handler is not None
        await self.handler.on_revoked(tps)
        self.revoked |= set(tps)

    def partition_count(self) -> int | None:
        return self.partitions if self.partitions is not None else len(self.logs)

    def pause(self, tps: Sequence[TP] | set[TP]) -> None:
        self.paused |= set(tps)

    def resume(self, tps: Sequence[TP] | set[TP]) -> None:
        self.paused -= set(tps)

    def highwater(self, tp: TP) -> int | None:
        return len(self.logs.get(tp, ()))

    async def commit(self, offsets: dict[TP, int]) -> bool:
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append(dict(offsets))
        self.committed.update(offsets)
        return True

    def restart(self) -> None:
        """A new group member: fetching starts again at the committed offsets."""
        self._fetched = {tp: self.committed.get(tp, 0) for tp in self.logs}
        self.paused.clear()
        self.stopped = False

    def fetched(self, tp: TP) -> int:
        return self._fetched.get(tp, 0)


@dataclass(frozen=True, slots=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def json(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.value)
        return loaded


@dataclass(frozen=True, slots=True)
class _Delivered:
    partition: int
    offset: int


@dataclass
class FakeSink:
    """Acknowledges every record at once, in send order, unless told to fail sends to a
    topic (``fail``, ``fail_always``); a failed send is counted in ``failed``, not ``sent``."""

    sent: list[Sent] = field(default_factory=list)
    failures: dict[str, list[SendFailed]] = field(default_factory=dict)
    failing: dict[str, SendFailed] = field(default_factory=dict)
    failed: int = 0

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> asyncio.Future[_Delivered]:
        future: asyncio.Future[_Delivered] = asyncio.get_running_loop().create_future()
        queued = self.failures.get(topic)
        error = queued.pop(0) if queued else self.failing.get(topic)
        if error is not None:
            self.failed += 1
            future.set_exception(error)
            return future
        self.sent.append(Sent(topic, key, value, tuple(headers)))
        future.set_result(_Delivered(partition or 0, len(self.sent) - 1))
        return future

    def fail(self, topic: str, *errors: SendFailed) -> None:
        """Fail the next sends to ``topic`` with ``errors``, then succeed again."""
        self.failures[topic] = list(errors)

    def fail_always(self, topic: str, error: SendFailed) -> None:
        self.failing[topic] = error

    def to(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


class GatedClaude:
    """InstantClaudeClient answers, held for the documents whose gate is closed.

    Records the order calls started in and, per key prefix (``p0-`` ...), the most calls
    in flight at once.
    """

    def __init__(self, inner: InstantClaudeClient | None = None) -> None:
        self.inner = inner or InstantClaudeClient()
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.inflight: dict[str, int] = {}
        self.max_inflight: dict[str, int] = {}

    def hold(self, *doc_ids: str) -> None:
        for doc_id in doc_ids:
            self.gates[doc_id] = asyncio.Event()

    def release(self, *doc_ids: str) -> None:
        for doc_id in doc_ids or tuple(self.gates):
            self.gates[doc_id].set()

    async def call(self, request: CallRequest) -> CallResult:
        doc_id = request.document_id
        group = doc_id.split("-")[0]
        self.started.append(doc_id)
        self.inflight[group] = self.inflight.get(group, 0) + 1
        self.max_inflight[group] = max(self.max_inflight.get(group, 0), self.inflight[group])
        try:
            gate = self.gates.get(doc_id)
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(0)  # let other records interleave
            return await self.inner.call(request)
        finally:
            self.inflight[group] -= 1

    async def count_tokens(self, request: CallRequest) -> int:
        return await self.inner.count_tokens(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def until(condition: object, *, rounds: int = 100_000) -> None:
    """Let the loop run until ``condition()`` holds; fail after ``rounds`` turns (no clock)."""
    assert callable(condition)
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


RESULTS, DLQ = "docs.results", "docs.dlq"


def build_processor(
    source: FakeSource,
    sink: FakeSink,
    client: ClaudeClient,
    clock: ManualClock,
    stop: StopPolicy | None = None,
    **values: object,
) -> Processor:
    """A worker assembled as ``run_worker`` does, on the fake ports; ``values`` are
    settings with ``__`` for the dot (``processing__buffer_size=4``)."""
    return build_worker(source, sink, client, clock, stop, **values)[0]


def build_worker(
    source: FakeSource,
    sink: FakeSink,
    client: ClaudeClient,
    clock: ManualClock,
    stop: StopPolicy | None = None,
    **values: object,
) -> tuple[Processor, Caller, Settings]:
    """``build_processor``, with the caller and the settings it was built with."""
    settings = load_settings(
        None,
        {
            "kafka.topics.input": source.topic,
            "kafka.topics.results": RESULTS,
            "kafka.topics.dlq": DLQ,
            **{k.replace("__", "."): v for k, v in values.items()},
        },
    )
    metrics = Metrics()
    caller = build_caller(settings, client, clock, metrics)
    pipelines, default = load_pipelines(settings, None)
    handler = RecordHandler(settings, caller, pipelines, default)
    processor = Processor(
        settings, source=source, sink=sink, handler=handler, clock=clock, stop=stop
    )
    connect_controls(caller, processor, metrics)
    return processor, caller, settings
