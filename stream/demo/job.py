"""``docstream demo``: the real job, end to end, on the embedded defaults.

Starts the embedded broker and the Messages API simulator (or uses real Claude when
ANTHROPIC_API_KEY is set), creates the topics, publishes the sample corpus plus a few
deliberately bad records, runs the three-stage ``triage`` pipeline with live progress
until the topic is drained, then prints a summary and what to try next.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from stream.config import Settings, load_settings
from stream.demo.corpus import BAD_RECORDS, corpus, corpus_lines
from stream.processor import StopPolicy
from stream.worker import WorkerReport

__all__ = ["DemoOptions", "run_demo"]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    documents: int = 300
    pipeline: str = "triage"
    rpm: int = 3000
    progress: bool = True
    out_dir: Path = Path("demo-out")


def run_demo(options: DemoOptions, console: Console) -> WorkerReport:
    from stream.embedded import EmbeddedBroker

    with EmbeddedBroker() as broker, _claude(options, console) as base_url:
        console.print(f"[bold]embedded Kafka[/] at {broker.bootstrap_servers}")
        settings = _settings(broker.bootstrap_servers, base_url)
        return asyncio.run(_run(settings, options, console))


@contextlib.contextmanager
def _claude(options: DemoOptions, console: Console) -> Iterator[str | None]:
    if os.environ.get("ANTHROPIC_API_KEY"):
        console.print("[bold]Claude[/]: the real API (ANTHROPIC_API_KEY is set)")
        yield None
        return
    from stream.simulator import SimulatorConfig, SimulatorProcess

    config = SimulatorConfig(
        rpm=options.rpm, base_latency_s=0.3, per_token_latency_s=0.002, jitter=0.2
    )
    with SimulatorProcess(config) as sim:
        console.print(
            f"[bold]Claude[/]: the local simulator at {sim.base_url} ({options.rpm} RPM; "
            "set ANTHROPIC_API_KEY to use real Claude)"
        )
        yield sim.base_url


def _settings(bootstrap: str, base_url: str | None) -> Settings:
    overrides: dict[str, object] = {
        "kafka.bootstrap_servers": bootstrap,
        "kafka.profile": "embedded",
        "kafka.session_timeout_ms": 6000,
        "kafka.heartbeat_interval_ms": 1000,
        "kafka.group_id": "docstream-demo",
        "claude.base_url": base_url,
        "processing.commit_interval_s": 1.0,
    }
    return load_settings(None, overrides)


async def _run(settings: Settings, options: DemoOptions, console: Console) -> WorkerReport:
    from stream.kafka.admin import ensure_topics
    from stream.kafka.producer import KafkaSink
    from stream.publish import publish_documents
    from stream.worker import run_worker

    topics = settings.kafka.topics
    await ensure_topics(settings.kafka)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    corpus_file = options.out_dir / "corpus.jsonl"
    corpus_file.write_text("\n".join(corpus_lines(options.documents)) + "\n", encoding="utf-8")
    summary = await publish_documents(settings.kafka, topics.input, corpus(options.documents))
    console.print(f"published {summary.sent} documents ({corpus_file}) to [bold]{topics.input}[/]")
    async with KafkaSink(settings.kafka) as sink:
        for key, value in BAD_RECORDS:
            await sink.send_and_wait(topics.input, value, key=key)
    console.print(f"published {len(BAD_RECORDS)} deliberately bad records (they go to the DLQ)")
    console.print(f"running pipeline [bold]{options.pipeline}[/] until the topic is drained...")
    return await run_worker(
        settings,
        stop=StopPolicy(until_idle_s=3.0),
        pipeline=options.pipeline,
        progress=options.progress,
    )
