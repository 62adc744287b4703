"""Sentinel test: document text and secrets never reach telemetry or the -vv log unless
capture is on."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from stream.simulator import SimulatorProcess
from stream.telemetry.metrics import Metrics
from stream.telemetry.setup import InMemoryTelemetry, install_in_memory
from stream.telemetry.tracing import (
    chat_span,
    process_span,
    record_chat_content,
    record_chat_result,
    send_span,
    wait_span,
)
from tests.fixtures.broker import SettingsFactory
from tests.fixtures.env import child_env
from tests.processor.helpers import doc, publish

SECRET = "sk-ant-api03-SENTINELSECRET0123456789"
DOC = "SENTINEL-DOCUMENT-TEXT patient Jane Roe, born 1970"


class _ApiError(Exception):
    """Stands in for an SDK error whose message quotes the request."""


def _one_document_through_every_helper(metrics: Metrics) -> None:
    headers: list[tuple[str, bytes]] = [("x-note", DOC.encode()), ("x-key", SECRET.encode())]
    with send_span("documents", key=b"doc-1", headers=headers):
        pass
    with pytest.raises(_ApiError), process_span("documents", 0, 5, b"doc-1", "g", headers):
        with pytest.raises(TimeoutError), wait_span("limiter.wait", note=None):
            raise TimeoutError(DOC)
        with chat_span(
            "claude-sonnet-4-5", max_tokens=64, temperature=None, stage="s", attempt=1, stream=False
        ) as chat:
            record_chat_content(
                chat,
                system=f"key={SECRET}",
                messages=[{"role": "user", "content": f"<document>{DOC}</document>"}],
                output=f"summary of {DOC}",
            )
            record_chat_result(chat, input_tokens=10, output_tokens=3, finish_reason="end_turn")
        metrics.record_chat("claude-sonnet-4-5", 0.5, 10, 3, None)
        dlq_headers: list[tuple[str, bytes]] = []
        with send_span("documents.dlq", key=b"doc-1", headers=dlq_headers):
            pass
        raise _ApiError(f"400 invalid_request_error: {DOC} (auth {SECRET})")


def _everything_exported(telemetry: InMemoryTelemetry) -> str:
    spans = "\n".join(span.to_json() for span in telemetry.spans())
    return spans + "\n" + repr(telemetry.metrics())


@pytest.mark.parametrize("capture", [False, True])
def test_helpers_sentinel_text_absent_unless_capture(capture: bool) -> None:
    """By default neither the document nor a secret appears in any span, event or metric;
    with capture on the same flow does show the document (so the check can see it)."""
    with install_in_memory(capture_content=capture) as telemetry:
        _one_document_through_every_helper(Metrics())
        exported = _everything_exported(telemetry)
        assert len(telemetry.spans()) == 5
    if capture:
        assert DOC in exported
    else:
        assert DOC not in exported
        assert SECRET not in exported
        assert "SENTINEL" not in exported


@pytest.mark.kafka
@pytest.mark.parametrize("capture", [False, True])
def test_vv_logs_no_document_text_unless_capture(
    settings_factory: SettingsFactory, simulator_process: SimulatorProcess, capture: bool
) -> None:
    """`docstream -vv run` over a document and a bad record (whose original bytes go to the
    DLQ) logs at DEBUG without the sentinel; with content capture on, the payload loggers
    (aiokafka's producer) do print it, so the check can see it."""
    settings = settings_factory({"kafka.topics.partitions": 1})
    bad = b'{"id": "bad", "text": "' + DOC.encode() + b'"'  # not JSON: DLQ'd with its bytes
    asyncio.run(publish(settings, [doc("good", DOC), (b"bad", bad)]))

    worker = subprocess.run(
        [sys.executable, "-m", "stream", "-vv", "run", "--until-idle", "1"],
        env=child_env(
            settings,
            simulator_process.base_url,
            {"DOCSTREAM_TELEMETRY__CAPTURE_CONTENT": str(capture).lower()},
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert worker.returncode == 0, worker.stderr[-2000:]
    assert " DEBUG " in worker.stderr  # -vv really logged at DEBUG
    assert ("SENTINEL" in worker.stderr) is capture
