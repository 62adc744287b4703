"""Fixtures for the simulator tests (SDK clients against the ``simulator`` fixtures)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import pytest_asyncio

from stream.simulator import SimulatorServer
from tests.simulator.helpers import sdk


@pytest_asyncio.fixture
async def client(simulator: SimulatorServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """An SDK client pointed at the ``simulator`` fixture."""
    async with sdk(simulator.base_url) as c:
        yield c


@pytest_asyncio.fixture
async def clients() -> AsyncIterator[Callable[..., anthropic.AsyncAnthropic]]:
    """Make SDK clients for other servers; all closed at teardown."""
    made: list[anthropic.AsyncAnthropic] = []

    def make(base_url: str, **options: Any) -> anthropic.AsyncAnthropic:
        made.append(sdk(base_url, **options))
        return made[-1]

    yield make
    for c in made:
        await c.close()
