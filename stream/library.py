"""docstream as a library: one document in, a typed ``Result`` or ``DeadLetter`` out.

``Docstream`` owns what ``docstream run`` builds around a pipeline (the Claude client, the
adaptive controller, the record handler) without a broker: the same outcome taxonomy,
result records and DLQ context, so a library call and a worker answer alike. The Faust
stage (``stream.faust``) builds on it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel, ValidationError

from stream.claude import ClaudeClient, make_client
from stream.concurrency import BreakerState, GateChange, GateState, MonotonicClock
from stream.config import ConfigError, Settings, load_settings
from stream.handler import RecordHandler
from stream.models import DeadLetter, Document, Result
from stream.ports import Output, RawRecord
from stream.telemetry.metrics import Metrics
from stream.worker import build_caller, load_pipelines

__all__ = [
    "DIRECT_TOPIC",
    "Docstream",
    "read_results",
    "settings_from_keywords",
    "typed_output",
]

log = logging.getLogger(__name__)

# The source a direct call reports in Result.source and the DLQ context: not a topic.
DIRECT_TOPIC = "(direct)"
_MAX_PENDING = 1000


def _keyword_paths() -> dict[str, str]:
    """Every settings field reachable by its bare name: ``model`` -> ``claude.model``.
    Names that occur in two sections (none today) are left out rather than guessed."""
    seen: dict[str, list[str]] = {}
    for section, info in Settings.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for name in model.model_fields:
            seen.setdefault(name, []).append(f"{section}.{name}")
    return {name: paths[0] for name, paths in seen.items() if len(paths) == 1}


def settings_from_keywords(settings: Settings | None = None, /, **keywords: Any) -> Settings:
    """``Settings`` from keyword arguments named like their fields (``model=``,
    ``base_url=``, ``max_concurrency=``, ``bootstrap_servers=``), on top of ``settings``
    or of the environment and defaults. An unknown keyword is a ConfigError."""
    paths = _keyword_paths()
    unknown = sorted(set(keywords) - set(paths))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(paths))})")
    if settings is None:
        return load_settings(None, {paths[k]: v for k, v in keywords.items()})
    data = settings.model_dump()
    for name, value in keywords.items():
        section, field = paths[name].split(".")
        data[section][field] = value
    try:
        return Settings.model_validate(data)  # validates without re-reading the environment
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {first['msg']}") from None


def _log_gate_change(change: GateChange) -> None:
    """One line per state change of the fatal gate (spend cap, auth), never one per call."""
    if change.state is GateState.OPEN:
        log.warning("fatal gate open: the probe call succeeded; calls resume")
    elif change.state is GateState.CLOSED:
        then = "for good" if change.probe_at is None else "until a probe call succeeds"
        log.error("%s: %s; every call held %s", change.reason, change.message, then)


def _log_breaker_transition(old: BreakerState, new: BreakerState) -> None:
    log.warning("circuit breaker %s -> %s", old.value, new.value)


def typed_output(output: Output) -> Result | DeadLetter:
    """The handler's record as the model a user reads: the Result, or the DLQ context."""
    if output.failure is None:
        return Result.model_validate_json(output.value)
    return DeadLetter.from_headers(output.headers)


class Docstream:
    """Run documents through a pipeline with docstream's controller; no broker needed.

    ``Docstream(model="claude-haiku-4-5", base_url="http://127.0.0.1:8000")`` or
    ``Docstream(settings)``; use it as ``async with`` (it owns an HTTP client)."""

    def __init__(
        self,
        settings: Settings | None = None,
        /,
        *,
        pipeline: str | None = None,
        client: ClaudeClient | None = None,
        **keywords: Any,
    ) -> None:
        self.settings = settings_from_keywords(settings, **keywords)
        pipelines, self.pipeline = load_pipelines(self.settings, pipeline)
        self._own_client = client is None
        self._client = client or make_client(
            self.settings, pool_size=self.settings.limits.max_concurrency
        )
        self.metrics = Metrics(group=self.settings.kafka.group_id)
        self.caller = build_caller(self.settings, self._client, MonotonicClock(), self.metrics)
        self.handler = RecordHandler(self.settings, self.caller, pipelines, self.pipeline)
        self.caller.fatal_gate.on_change.append(_log_gate_change)
        self.caller.breaker.on_transition.append(_log_breaker_transition)
        self._offsets = itertools.count()
        self._sequence = itertools.count(1)
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client this object made (a client passed in stays open)."""
        if self._closed:
            return
        self._closed = True
        self.metrics.close()
        if self._own_client:
            await self._client.aclose()

    async def handle(self, record: RawRecord) -> Output:
        """One raw record to its result or DLQ record (what a worker would produce)."""
        return await self.handler.handle(record, next(self._sequence))

    async def process(self, document: Document | Mapping[str, Any]) -> Result | DeadLetter:
        """One document through the pipeline. A document the pipeline cannot process
        comes back as a DeadLetter (never raised); auth, spend-cap and unknown-model
        outcomes raise FatalOutcome, since no document is at fault."""
        data = document.model_dump() if isinstance(document, Document) else dict(document)
        value = json.dumps(data, ensure_ascii=False).encode("utf-8")
        key = str(data.get("id", "")).encode("utf-8") or None
        record = RawRecord(DIRECT_TOPIC, 0, next(self._offsets), 0, key, value, ())
        return typed_output(await self.handle(record))

    async def process_many(
        self,
        documents: Iterable[Document | Mapping[str, Any]]
        | AsyncIterable[Document | Mapping[str, Any]],
    ) -> AsyncIterator[Result | DeadLetter]:
        """Every document concurrently (the limiter decides how many calls run), yielded
        as each finishes: ``async for outcome in ds.process_many(docs)``."""
        done: asyncio.Queue[Result | DeadLetter | None] = asyncio.Queue()
        room = asyncio.Semaphore(_MAX_PENDING)  # documents held in memory at once

        async def one(document: Document | Mapping[str, Any]) -> None:
            try:
                await done.put(await self.process(document))
            finally:
                room.release()

        async def feed() -> None:
            async with asyncio.TaskGroup() as inner:
                async for document in _as_async(documents):
                    await room.acquire()
                    inner.create_task(one(document))
            await done.put(None)  # every document has been yielded before this

        async with asyncio.TaskGroup() as group:
            group.create_task(feed())
            while (outcome := await done.get()) is not None:
                yield outcome


async def _as_async(items: Any) -> AsyncIterator[Any]:
    if hasattr(items, "__aiter__"):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def read_results(
    settings: Settings | None = None, /, *, follow: bool = False, **keywords: Any
) -> AsyncIterator[Result]:
    """The results topic as typed ``Result`` objects, from the beginning; with ``follow``,
    keep waiting for new ones. ``async for result in read_results(bootstrap_servers=...)``."""
    from stream.kafka.reader import read_topic

    settings = settings_from_keywords(settings, **keywords)
    async for record in read_topic(settings.kafka, settings.kafka.topics.results, follow=follow):
        yield Result.model_validate_json(record.value or b"")
