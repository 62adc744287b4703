"""The HTTP/1.1 layer over raw sockets: keep-alive, pipelining, chunked bodies, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from stream.simulator import SimulatorServer
from tests.simulator.helpers import until

pytestmark = pytest.mark.timeout(30)

_BODY = json.dumps(
    {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
).encode()


def _request(path: str = "/v1/messages", body: bytes = _BODY, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\nx-api-key: sim\r\n{extra}"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)}
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        parts = []
        while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        await reader.readexactly(2)
        body = b"".join(parts)
    return int(lines[0].split(" ")[1]), headers, body


async def _connect(server: SimulatorServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def test_keep_alive_serves_many_requests_on_one_connection(
    simulator: SimulatorServer,
) -> None:
    """Three requests one after another on one socket all get 200s."""
    reader, writer = await _connect(simulator)
    for _ in range(3):
        writer.write(_request())
        status, headers, body = await _response(reader)
        assert status == 200 and json.loads(body)["type"] == "message"
        assert "connection" not in headers
    writer.close()


async def test_pipelined_requests_are_answered_in_order(simulator: SimulatorServer) -> None:
    """Requests written back to back are answered in the order sent (even with latency)."""
    simulator.configure(latency=0.01)
    reader, writer = await _connect(simulator)
    count = _request("/v1/messages/count_tokens")
    writer.write(_request() + count + _request("/nope") + count)
    statuses = [(await _response(reader))[0] for _ in range(4)]
    writer.close()
    assert statuses == [200, 200, 404, 200]


async def test_chunked_request_body_is_accepted(simulator: SimulatorServer) -> None:
    """A Transfer-Encoding: chunked request body is decoded."""
    reader, writer = await _connect(simulator)
    half = len(_BODY) // 2
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
        half,
        _BODY[:half],
        len(_BODY) - half,
        _BODY[half:],
    )
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: sim\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + chunked
    )
    status, _, body = await _response(reader)
    writer.close()
    assert status == 200 and json.loads(body)["usage"]["input_tokens"] == 1


async def test_connection_close_is_honoured(simulator: SimulatorServer) -> None:
    """ "Connection: close" gets a response marked close, then EOF."""
    reader, writer = await _connect(simulator)
    writer.write(_request(extra="connection: close\r\n"))
    status, headers, _ = await _response(reader)
    assert status == 200 and headers["connection"] == "close"
    assert await reader.read() == b""
    writer.close()


async def test_unknown_path_is_404_json_error_and_wrong_method_is_405(
    simulator: SimulatorServer,
) -> None:
    """Unknown paths get the API's JSON error shape; a known path with another method, 405."""
    reader, writer = await _connect(simulator)
    writer.write(_request("/v1/complete"))
    status, headers, body = await _response(reader)
    assert status == 404 and headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "not_found_error"
    writer.write(b"GET /v1/messages HTTP/1.1\r\nhost: x\r\n\r\n")
    assert (await _response(reader))[0] == 405
    writer.close()


async def test_missing_api_key_is_401_and_bad_json_is_400(simulator: SimulatorServer) -> None:
    """No x-api-key/authorization header: 401; a body that is not JSON: 400."""
    reader, writer = await _connect(simulator)
    writer.write(_request().replace(b"x-api-key: sim\r\n", b""))
    status, _, body = await _response(reader)
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
    writer.write(_request(body=b"{not json"))
    status, _, body = await _response(reader)
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"
    writer.close()


async def test_garbage_request_line_gets_400_and_close(simulator: SimulatorServer) -> None:
    """A request line that is not HTTP is refused and the connection closed."""
    reader, writer = await _connect(simulator)
    writer.write(b"HELLO\r\n\r\n")
    status, headers, _ = await _response(reader)
    assert status == 400 and headers["connection"] == "close"
    assert await reader.read() == b""
    writer.close()


async def test_stop_closes_connections_with_requests_in_flight(
    simulator_factory: Callable[..., Awaitable[SimulatorServer]],
) -> None:
    """stop() drops a hanging request's connection instead of waiting for it forever."""
    server = await simulator_factory()
    reader, writer = await _connect(server)
    hang = json.dumps(
        {
            "model": "claude-x",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "[[sim:hang]]"}],
        }
    ).encode()
    writer.write(_request(body=hang))
    await until(lambda: server.stats()["inflight"] == 1)
    await server.stop()
    assert await reader.read() == b""
    assert server.stats()["inflight"] == 0
    writer.close()
