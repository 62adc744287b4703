"""Every command that touches Kafka configures telemetry as `run` does (issue 13, item 1):
with the console exporter, `publish` and `dlq replay` print their spans, and a published
record carries the context of the publisher's own span, so one trace starts there."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from stream.config import Settings
from stream.telemetry.propagation import TRACEPARENT
from tests.cli.helpers import docstream
from tests.dlq.helpers import letter_record, put_dlq, read_all
from tests.fixtures.broker import SettingsFactory
from tests.fixtures.env import kafka_env

pytestmark = pytest.mark.kafka


def _env(settings: Settings) -> dict[str, str]:
    return {**kafka_env(settings.kafka), "DOCSTREAM_TELEMETRY__EXPORTER": "console"}


def _spans(stderr: str) -> list[dict[str, Any]]:
    """The span objects the console exporter wrote (metrics are JSON too; skipped)."""
    decoder = json.JSONDecoder()
    found, pos = [], 0
    while (start := stderr.find("{", pos)) >= 0:
        try:
            value, pos = decoder.raw_decode(stderr, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        if isinstance(value, dict) and "context" in value and "name" in value:
            found.append(value)
    return found


def test_publish_exports_its_send_spans_and_records_carry_their_trace(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    settings = settings_factory()
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n')

    done = docstream(["publish", str(source)], env=_env(settings))

    assert done.returncode == 0, done.stderr
    sends = [s for s in _spans(done.stderr) if s["name"] == f"send {settings.kafka.topics.input}"]
    assert len(sends) == 2, done.stderr
    spans = {
        (s["context"]["trace_id"].removeprefix("0x"), s["context"]["span_id"].removeprefix("0x"))
        for s in sends
    }
    records = asyncio.run(read_all(settings, settings.kafka.topics.input))
    parents = {tuple(dict(r.headers)[TRACEPARENT].decode().split("-")[1:3]) for r in records}
    # Each record's traceparent names its own publisher span: the worker's `process`
    # span becomes that span's child, one trace from the publisher on.
    assert parents == spans


def test_dlq_replay_exports_its_send_spans(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    topic = settings.kafka.topics.input
    asyncio.run(put_dlq(settings, [letter_record("x1", original_topic=topic)]))

    done = docstream(["dlq", "replay", "--no-progress"], env=_env(settings))

    assert done.returncode == 0, done.stderr
    assert [s["name"] for s in _spans(done.stderr)].count(f"send {topic}") == 1, done.stderr
