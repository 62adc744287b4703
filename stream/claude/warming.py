"""A Claude client built in a background thread while the worker joins its group.

Importing the SDK (``anthropic`` and its generated types) is most of our own share of a
cold start: 0.4-1.2 s on this machine, when a worker then waits 1-5 s for its group
join anyway. ``WarmingClaudeClient`` starts building the real client in a thread at
once; the first call waits for it (normally long finished). The thread is joined by
``aclose``; the import lock keeps a concurrent ``import anthropic`` elsewhere safe.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable

from stream.claude.types import CallRequest, CallResult, ClaudeClient

__all__ = ["WarmingClaudeClient"]


class WarmingClaudeClient:
    """A ``ClaudeClient`` whose real client ``build()`` makes in a background thread."""

    def __init__(self, build: Callable[[], ClaudeClient]) -> None:
        self._built: concurrent.futures.Future[ClaudeClient] = concurrent.futures.Future()
        # Running: a waiter that is cancelled (asyncio.wrap_future passes its cancel on to
        # the thread's future) must not cancel the build under every later caller.
        self._built.set_running_or_notify_cancel()
        self._thread = threading.Thread(
            target=self._build, args=(build,), name="claude-client-build", daemon=True
        )
        self._thread.start()

    def _build(self, build: Callable[[], ClaudeClient]) -> None:
        try:
            self._built.set_result(build())
        except BaseException as exc:  # handed to whoever awaits the client
            self._built.set_exception(exc)

    async def client(self) -> ClaudeClient:
        """The real client, once built (re-raises what building raised)."""
        if not self._built.done():
            # Shielded: a waiter that is cancelled (the GC freeze's task at a failed
            # start) must not cancel the build for everyone else (wrap_future would).
            await asyncio.shield(asyncio.wrap_future(self._built))
        # Once built, no new wrapper: wrapping a finished thread future still hands its
        # result over with call_soon_threadsafe, a self-pipe write and an extra loop
        # pass, on every call (about 500 of each in a 500-document job's profile).
        return self._built.result()

    async def call(self, request: CallRequest) -> CallResult:
        return await (await self.client()).call(request)

    async def count_tokens(self, request: CallRequest) -> int:
        return await (await self.client()).count_tokens(request)

    async def aclose(self) -> None:
        client = await self.client()
        await asyncio.to_thread(self._thread.join)
        await client.aclose()
