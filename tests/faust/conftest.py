from collections.abc import Iterator

import pytest

from stream.telemetry.setup import InMemoryTelemetry, install_in_memory


@pytest.fixture
def otel() -> Iterator[InMemoryTelemetry]:
    with install_in_memory() as telemetry:
        yield telemetry
