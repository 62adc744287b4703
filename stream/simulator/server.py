"""``SimulatorServer``: the simulator inside the current event loop.

Tests use this form (fast to start, state inspectable in-process); benchmarks use
``SimulatorProcess`` so the server does not share a GIL with the code under test.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any

from stream.simulator.app import SimulatorApp
from stream.simulator.config import SimulatorConfig
from stream.simulator.http import HttpConnection
from stream.simulator.state import SimState

__all__ = ["SimulatorServer", "admin_call"]


class SimulatorServer:
    """A Messages API simulator listening on ``config.host:config.port`` (0 = a free port).

    ``now``/``wall`` are injectable clocks (monotonic seconds for buckets, schedule and
    timeline; epoch seconds for the RFC 3339 reset headers).
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.state = SimState(self.config, now, wall)
        self._app = SimulatorApp(self.state)
        self._connections: set[HttpConnection] = set()
        self._server: asyncio.Server | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` once started (pass it as the SDK's ``base_url``)."""
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    async def start(self) -> str:
        """Listen and return the base URL."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self._app.dispatch, self._connections),
            self.config.host,
            self.config.port,
            backlog=1024,
            reuse_address=True,
        )
        port = self._server.sockets[0].getsockname()[1]
        self.state.begin()
        self._base_url = f"http://{self.config.host}:{port}"
        return self._base_url

    async def stop(self) -> None:
        """Stop listening and drop every open connection (hanging requests included)."""
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._connections):
            conn.close()
        await self._server.wait_closed()
        self._server = None
        await asyncio.sleep(0)  # let connection_lost callbacks run

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def stats(self) -> dict[str, Any]:
        """The same document ``GET /stats`` returns."""
        return self.state.snapshot()

    def set_fault(self, mode: str | None, rate: float = 1.0, retry_after_s: int = 1) -> None:
        """Set the global fault mode (``None`` clears it), as ``POST /admin/faults``."""
        self.state.faults.set_global(mode, rate, retry_after_s)

    def clear_fault(self) -> None:
        self.state.faults.set_global(None)

    def configure(self, **changes: float | None) -> None:
        """Change limits live, as ``POST /admin/limits`` (e.g. ``rpm=1200, latency=1.0``)."""
        self.state.tune(changes)

    def reset(self) -> None:
        """Fresh stats and ``*K`` counts, full buckets (as ``POST /admin/reset``)."""
        self.state.reset()


def admin_call(
    base_url: str, method: str, path: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A blocking JSON call to a simulator's admin or stats endpoint (for sync callers)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        base_url + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result
