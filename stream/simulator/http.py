"""A small, fast HTTP/1.1 server connection on ``asyncio.Protocol``.

No framework: the simulator must never be the bottleneck of a benchmark, and it must be
able to misbehave on purpose (hang, cut a body in half), which frameworks make hard.
It supports keep-alive, pipelining (requests on one connection are answered in order),
Content-Length and chunked request bodies. The handler gets an ``Exchange`` and writes
raw bytes to it, now or later; the connection reads the next request only once the
current exchange is finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from stream.simulator import wire

__all__ = ["Exchange", "Handler", "HttpConnection"]

_MAX_HEAD: Final = 64 * 1024
MAX_BODY: Final = 32 * 1024 * 1024  # the Messages API's request cap


class Exchange:
    """One request and the means to answer it.

    The handler calls ``write`` any number of times, then ``finish`` (the response is
    complete) or ``abort`` (drop the connection). ``on_abort`` runs if the client goes
    away before either.
    """

    __slots__ = ("_conn", "body", "done", "headers", "keep_alive", "method", "on_abort", "path")

    def __init__(
        self,
        conn: HttpConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self._conn = conn
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.done = False
        self.on_abort: Callable[[], None] | None = None

    def write(self, data: bytes) -> None:
        if not self.done:
            self._conn.write(data)

    def finish(self) -> None:
        """The response is complete: read the next request (or close, if not keep-alive)."""
        if not self.done:
            self.done = True
            self._conn.exchange_finished(self)

    def abort(self) -> None:
        """Close the connection now (after whatever was written)."""
        if not self.done:
            self.done = True
            self._conn.close()


Handler = Callable[[Exchange], None]


class HttpConnection(asyncio.Protocol):
    """One client connection; ``registry`` lets the server close every connection on stop."""

    def __init__(self, handler: Handler, registry: set[HttpConnection]) -> None:
        self._handler = handler
        self._registry = registry
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._current: Exchange | None = None
        self._parsing = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.closing = True
        self._registry.discard(self)
        current, self._current = self._current, None
        if current is not None and not current.done:
            current.done = True
            if current.on_abort is not None:
                current.on_abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._current is None and not self._parsing:
            self._parse_all()

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self.closing:
            self._transport.write(data)

    def close(self) -> None:
        """Close after flushing what was written (a FIN, as a crashed upstream would)."""
        self.closing = True
        if self._transport is not None:
            self._transport.close()

    def exchange_finished(self, exchange: Exchange) -> None:
        if self._current is not exchange:
            return
        self._current = None
        if not exchange.keep_alive:
            self.close()
        elif not self._parsing and self._buffer:
            self._parse_all()

    def _parse_all(self) -> None:
        self._parsing = True
        try:
            while self._current is None and not self.closing:
                exchange = self._parse_one()
                if exchange is None:
                    return
                self._current = exchange
                self._handler(exchange)
        finally:
            self._parsing = False

    def _parse_one(self) -> Exchange | None:
        buffer = self._buffer
        if not buffer:
            return None
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD:
                self._refuse(431, "invalid_request_error", "request headers too large")
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            self._refuse(400, "invalid_request_error", "malformed request line")
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            try:
                decoded = _dechunk(buffer, start)
            except ValueError:
                self._refuse(400, "invalid_request_error", "malformed chunked body")
                return None
            if decoded is None:
                return None
            body, consumed = decoded
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._refuse(400, "invalid_request_error", "bad content-length")
                return None
            if length > MAX_BODY:
                self._refuse(413, "request_too_large", "Request exceeds the maximum size")
                return None
            if len(buffer) - start < length:
                return None
            body, consumed = bytes(buffer[start : start + length]), start + length
        del buffer[:consumed]
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        return Exchange(self, method, target.split("?", 1)[0], headers, body, keep_alive)

    def _refuse(self, status: int, kind: str, message: str) -> None:
        """Answer a request we cannot even parse, then close."""
        body = wire.error_body(kind, message, "req_sim_unparsed")
        self.write(wire.response(status, "", body, keep_alive=False))
        self._buffer.clear()
        self.close()


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a complete chunked body at ``start``; None if more bytes are needed."""
    parts: list[bytes] = []
    pos = start
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";", 1)[0], 16)
        pos = line_end + 2
        if pos + size - start > MAX_BODY:
            raise ValueError("chunked body too large")
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", pos - 2)
            return (b"".join(parts), trailer_end + 4) if trailer_end >= 0 else None
        if len(buffer) < pos + size + 2:
            return None
        parts.append(bytes(buffer[pos : pos + size]))
        pos += size + 2
