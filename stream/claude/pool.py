"""The worker's HTTP connections to the Messages API, in shards of a few each.

httpcore's pool checks every connection it holds on every request that starts or ends
(``has_expired``: a ``poll`` and a ``getpeername`` through anyio's typed attributes for
each idle one). HTTP/1.1 needs one connection per call in flight, so a worker at 50-60
calls held 50-60 connections and paid about 66 checks per request: most of the SDK's
2.3-4.8 ms of CPU per call, and, as a job starts on a warm pool of idle connections,
the time before a refusal can be read back (a 529's round trip took 12-19 ms while the
ramp sent on). Here the connections are split among several SDK clients of
``SHARD_CONNECTIONS`` each; a call takes the first shard with room, so a few calls in
flight use one shard (and its kept-alive connections) as before, and each request's
checks cover at most one shard.

The number of connections is what it was: ``pool_size`` in all, each shard keeping its
own alive (on the real API, fewer would mean new TLS handshakes).
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anthropic
import httpx2

__all__ = ["SHARD_CONNECTIONS", "SdkPool"]

SHARD_CONNECTIONS = 16


@dataclass(slots=True)
class _Shard:
    http: httpx2.AsyncClient
    sdk: anthropic.AsyncAnthropic
    inflight: int = 0


class SdkPool:
    """``pool_size`` connections in shards; ``lease()`` lends the first shard's SDK
    client that has a connection free, counting the call in flight until it ends."""

    def __init__(
        self, *, api_key: str, base_url: str, pool_size: int, timeout: httpx2.Timeout
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1 (got {pool_size})")
        count = math.ceil(pool_size / SHARD_CONNECTIONS)
        self.each = math.ceil(pool_size / count)  # connections per shard
        # One TLS context for all: each client would load the CA bundle again (60-110 ms
        # each; sixteen of them held a worker's first call back by 2.4-3.1 s).
        tls = httpx2.create_ssl_context()
        self._shards = [self._shard(api_key, base_url, timeout, tls) for _ in range(count)]

    def _shard(
        self, api_key: str, base_url: str, timeout: httpx2.Timeout, tls: ssl.SSLContext
    ) -> _Shard:
        http = httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=self.each, max_keepalive_connections=self.each),
            timeout=timeout,
            verify=tls,
        )
        # docstream's own `chat <model>` span (stream.telemetry) already carries the GenAI
        # attributes per attempt; the SDK's spans would duplicate it, and an explicit
        # False also keeps ANTHROPIC_OPEN_TELEMETRY_* from switching content capture on.
        sdk = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=http,
            open_telemetry=False,
        )
        return _Shard(http, sdk)

    @property
    def shards(self) -> int:
        return len(self._shards)

    def inflight(self) -> list[int]:
        """Calls in flight per shard."""
        return [shard.inflight for shard in self._shards]

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[anthropic.AsyncAnthropic]:
        shard = self._pick()
        shard.inflight += 1
        try:
            yield shard.sdk
        finally:
            shard.inflight -= 1

    def _pick(self) -> _Shard:
        for shard in self._shards:
            if shard.inflight < self.each:
                return shard
        # More calls than pool_size (the limiter never lets that happen): the least
        # busy shard, where httpcore queues the request for a connection.
        return min(self._shards, key=lambda shard: shard.inflight)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.sdk.close()
            await shard.http.aclose()
