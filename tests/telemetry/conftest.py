"""Fresh in-memory OpenTelemetry providers per test (never the set-once global ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stream.telemetry.setup import InMemoryTelemetry, install_in_memory


@pytest.fixture
def otel() -> Iterator[InMemoryTelemetry]:
    with install_in_memory() as telemetry:
        yield telemetry


@pytest.fixture
def otel_capture() -> Iterator[InMemoryTelemetry]:
    with install_in_memory(capture_content=True) as telemetry:
        yield telemetry
