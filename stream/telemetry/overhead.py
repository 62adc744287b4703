"""What the tracing helpers cost per document: ``python -m stream.telemetry.overhead``.

One document's worth of helper calls (publisher send, process, a limiter wait, one chat
attempt with its result, the result send, and the metrics the worker records), timed with
telemetry off (exporter ``none``) and with in-memory SDK providers (span creation plus a
synchronous in-memory export: an upper bound for the on-loop cost of a batch exporter).
CPU time on a shared machine: read the figures as orders of magnitude.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from stream.config import TelemetrySettings
from stream.telemetry.metrics import Metrics
from stream.telemetry.setup import configure_telemetry, install_in_memory
from stream.telemetry.tracing import (
    chat_span,
    current_trace_id,
    process_span,
    record_chat_result,
    send_span,
    wait_span,
)

__all__ = ["main", "one_document"]

_MODEL = "claude-sonnet-4-5"


def one_document(metrics: Metrics) -> None:
    """Every helper the publisher and the worker call for one successful document."""
    headers: list[tuple[str, bytes]] = []
    with send_span("documents", key=b"doc-1", headers=headers):
        pass
    with process_span("documents", 0, 1, b"doc-1", "docstream", headers):
        with wait_span("limiter.wait", model=_MODEL):
            pass
        with chat_span(
            _MODEL, max_tokens=1024, temperature=None, stage="summary", attempt=1, stream=False
        ) as span:
            record_chat_result(
                span,
                response_id="msg_1",
                response_model=_MODEL,
                finish_reason="end_turn",
                input_tokens=900,
                output_tokens=120,
                request_id="req_1",
                http_status=200,
            )
        metrics.record_chat(_MODEL, 1.0, 900, 120, None)
        metrics.record_document("success")
        current_trace_id()
        with send_span("documents.results", key=b"doc-1", headers=[]):
            pass


def _per_document_us(documents: int, clear: Callable[[], None] = lambda: None) -> float:
    metrics = Metrics()
    for _ in range(min(documents, 200)):  # warm caches and lazy imports
        one_document(metrics)
    spent = 0.0
    for done in range(documents):
        started = time.process_time()
        one_document(metrics)
        spent += time.process_time() - started
        if done % 100 == 99:
            clear()  # keep the in-memory exporter from growing into a GC benchmark
    return spent / documents * 1e6


@click.command()
@click.option("--documents", default=5000, show_default=True, help="documents per mode")
def main(documents: int) -> None:
    """Print the CPU cost of the helpers per document, telemetry off and on."""
    with configure_telemetry(TelemetrySettings(), set_global=False):
        off = _per_document_us(documents)
    with install_in_memory() as telemetry:
        on = _per_document_us(documents, telemetry.clear)
    click.echo(f"telemetry off (exporter none): {off:8.1f} us CPU per document")
    click.echo(f"in-memory SDK (4 spans)      : {on:8.1f} us CPU per document")


if __name__ == "__main__":
    main()
