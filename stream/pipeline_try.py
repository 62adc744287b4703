"""``docstream pipeline validate`` and ``try``: a pipeline file checked, and one document
run through it with every Claude request and answer shown (the pipeline dev loop).

``try`` uses the same Docstream the library offers (the worker's handler, caller and
controller), so what it shows is what ``docstream run`` would send; the Claude client is
wrapped to report each attempt as it completes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stream.claude import ClaudeClient, make_client
from stream.claude.types import CallRequest, CallResult
from stream.config import Settings
from stream.library import Docstream
from stream.models import DeadLetter, Result
from stream.pipeline import Pipeline, load_pipeline

__all__ = ["Exchange", "describe_pipeline", "load", "try_pipeline"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One attempt: what was sent and what came back."""

    request: CallRequest
    result: CallResult


def describe_pipeline(pipeline: Pipeline) -> list[str]:
    """Lines that say what the pipeline will do: stages by level, model, limits, output."""
    lines = [
        f"pipeline {pipeline.name}: {len(pipeline.stages)} stages in {len(pipeline.levels)} levels"
    ]
    for number, level in enumerate(pipeline.levels, 1):
        for name in level:
            stage = pipeline.stages[name]
            spec = stage.spec
            after = f", after {', '.join(spec.depends_on)}" if spec.depends_on else ""
            lines.append(
                f"  level {number}: {name} ({stage.model}, max_tokens {stage.max_tokens}, "
                f"{spec.output} output{after})"
            )
    return lines


class _Recording:
    """A ClaudeClient that reports every attempt to ``on_exchange``."""

    def __init__(self, inner: ClaudeClient, on_exchange: Callable[[Exchange], None]) -> None:
        self._inner = inner
        self._on_exchange = on_exchange

    async def call(self, request: CallRequest) -> CallResult:
        result = await self._inner.call(request)
        self._on_exchange(Exchange(request, result))
        return result

    async def count_tokens(self, request: CallRequest) -> int:
        return await self._inner.count_tokens(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def try_pipeline(
    settings: Settings,
    pipeline_file: str,
    document: Mapping[str, Any],
    on_exchange: Callable[[Exchange], None],
) -> Result | DeadLetter:
    """Run ``document`` through the pipeline once against ``settings``' Claude endpoint."""
    client = _Recording(make_client(settings, pool_size=8), on_exchange)
    try:
        async with Docstream(settings, pipeline=pipeline_file, client=client) as ds:
            return await ds.process(document)
    finally:
        await client.aclose()


def load(settings: Settings, pipeline_file: str) -> Pipeline:
    claude = settings.claude
    return load_pipeline(
        pipeline_file, default_model=claude.model, default_max_tokens=claude.max_tokens
    )
