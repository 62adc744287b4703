"""A Kafka Metadata v0 round-trip over a plain socket: the embedded broker's readiness probe.

Why raw bytes instead of aiokafka: the launcher is synchronous (usable from sync and
async code alike, start takes ~30 ms) and aiokafka may only be imported under
``stream/kafka/``. Metadata v0 is the oldest request every Kafka-compatible broker
answers, and its reply names the advertised brokers, so the probe also proves that the
listener we talk to advertises the address clients will be given.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

__all__ = ["BrokerAddress", "ProbeError", "metadata_brokers"]

_METADATA_API_KEY = 3
_METADATA_VERSION = 0
_CLIENT_ID = b"docstream-probe"
_MAX_RESPONSE = 16 * 1024 * 1024


class ProbeError(Exception):
    """The endpoint did not answer a Metadata request like a Kafka broker."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    node_id: int
    host: str
    port: int


def metadata_brokers(host: str, port: int, *, timeout_s: float = 1.0) -> list[BrokerAddress]:
    """Send Metadata v0 (no topics) to host:port and return the brokers it advertises."""
    correlation_id = 0x5EED
    header = (
        struct.pack(">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(_CLIENT_ID))
        + _CLIENT_ID
    )
    # v0 body: topics array; an empty array keeps the reply small (Tansu and Kafka both
    # still list the brokers).
    body = struct.pack(">i", 0)
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exact(sock, 4))[0]
            if not 4 <= size <= _MAX_RESPONSE:
                raise ProbeError(f"implausible response size {size}")
            payload = _recv_exact(sock, size)
    except OSError as exc:
        raise ProbeError(f"{host}:{port}: {exc}") from exc
    return _parse(payload, correlation_id)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ProbeError("connection closed before a full response arrived")
        chunks += chunk
    return bytes(chunks)


def _parse(payload: bytes, correlation_id: int) -> list[BrokerAddress]:
    try:
        got_id, count = struct.unpack_from(">ii", payload, 0)
        if got_id != correlation_id:
            raise ProbeError(f"correlation id {got_id} != {correlation_id}")
        offset = 8
        brokers = []
        for _ in range(count):
            node_id, host_len = struct.unpack_from(">ih", payload, offset)
            offset += 6
            host = payload[offset : offset + host_len].decode("utf-8")
            offset += host_len
            (port,) = struct.unpack_from(">i", payload, offset)
            offset += 4
            brokers.append(BrokerAddress(node_id, host, port))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProbeError(f"malformed Metadata response: {exc}") from exc
    return brokers
