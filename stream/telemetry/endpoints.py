"""The worker's optional HTTP port: ``/livez``, ``/readyz`` and Prometheus ``/metrics``.

A Kubernetes probe or a Prometheus scrape is one GET on a fresh connection, so this is a
minimal HTTP/1.1 responder on ``asyncio.start_server`` (one request per connection, then
close), not a framework. The ``/metrics`` body comes from a callable
(``TelemetryHandle.prometheus_page``: prometheus-client renders the OTel SDK's own
instruments); nothing here writes the exposition format.

- ``/livez``: 200 while the event loop answers. A loop blocked by a bug fails the probe,
  and the kubelet restarts the pod.
- ``/readyz``: 200 when ``ready()`` says so (the worker: partitions assigned and not
  paused by a fatal outcome or the shutdown drain), else 503; the body says why.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

__all__ = ["Endpoints", "Page", "Readiness"]

log = logging.getLogger(__name__)

_READ_TIMEOUT_S = 5.0  # a client that sends no request line in time is dropped
_MAX_HEAD = 16 * 1024
_STATUS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str  # "running", or why not: "joining the group", "paused: fatal", ...


Page = tuple[bytes, str]  # body, content type


class Endpoints:
    """``async with Endpoints(host, port, ready=..., metrics=...) as ep:`` serves until exit;
    ``ep.port`` is the bound port (useful with port 0)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ready: Callable[[], Readiness],
        metrics: Callable[[], Page] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._ready = ready
        self._metrics = metrics
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()  # asyncio.start_server's tasks

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("endpoints not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> Endpoints:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        log.info("health and metrics on http://%s:%d", self._host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop listening, then end open connections (a scrape in progress is cut) and wait
        for their handlers, so nothing of ours outlives the worker."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEAD:
                return
            method, _, rest = head.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            status, body, content_type = self._answer(method, path)
            writer.write(_response(status, body, content_type, head_only=method == "HEAD"))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that went away or never asked: nothing to answer
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            writer.close()

    def _answer(self, method: str, path: str) -> tuple[int, bytes, str]:
        if method not in ("GET", "HEAD"):
            return 405, b'{"error": "GET only"}', _JSON
        if path in ("/livez", "/healthz"):
            return 200, b'{"live": true}', _JSON
        if path == "/readyz":
            state = self._ready()
            body = json.dumps({"ready": state.ready, "reason": state.reason}).encode()
            return (200 if state.ready else 503), body, _JSON
        if path == "/metrics" and self._metrics is not None:
            body, content_type = self._metrics()
            return 200, body, content_type
        return 404, b'{"error": "not found"}', _JSON


def _response(status: int, body: bytes, content_type: str, *, head_only: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_STATUS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)
