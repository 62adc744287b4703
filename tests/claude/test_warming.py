"""The Claude client built in a background thread (cold start): same answers, same
errors, bad settings still fail at once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from stream.claude import CallRequest, InstantClaudeClient, make_client_warming
from stream.claude.warming import WarmingClaudeClient
from stream.config import ConfigError, load_settings


def _request() -> CallRequest:
    return CallRequest(model="m", system="s", user="hello", max_tokens=10, document_id="d")


async def test_the_real_client_is_built_off_the_event_loop_thread_and_answers() -> None:
    built_on: list[str] = []

    def build() -> InstantClaudeClient:
        built_on.append(threading.current_thread().name)
        return InstantClaudeClient()

    client = WarmingClaudeClient(build)
    result = await client.call(_request())
    assert result.ok and await client.count_tokens(_request()) > 0
    assert built_on == ["claude-client-build"]
    await client.aclose()


async def test_a_build_that_fails_fails_the_first_call() -> None:
    def build() -> InstantClaudeClient:
        raise RuntimeError("no SDK")

    client = WarmingClaudeClient(build)
    with pytest.raises(RuntimeError, match="no SDK"):
        await client.call(_request())


async def test_calls_after_the_build_need_no_wakeup_from_another_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once built, a call goes straight to the real client: no thread-safe hand-over
    (a self-pipe write and an extra event-loop pass) per call."""
    client = WarmingClaudeClient(InstantClaudeClient)
    await client.call(_request())  # waits for the build
    loop = asyncio.get_running_loop()
    handovers: list[Any] = []
    original = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        handovers.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    for _ in range(10):
        assert (await client.call(_request())).ok
    assert handovers == []
    monkeypatch.undo()
    await client.aclose()


async def test_a_failed_build_fails_every_call_not_only_the_first() -> None:
    def build() -> InstantClaudeClient:
        raise RuntimeError("no SDK")

    client = WarmingClaudeClient(build)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="no SDK"):
            await client.call(_request())


async def test_a_waiter_cancelled_during_the_build_leaves_the_build_to_finish() -> None:
    """A call (or the start-up GC freeze) cancelled while the client is being built does
    not cancel the build: later calls and ``aclose`` get the client."""
    release = threading.Event()

    def build() -> InstantClaudeClient:
        release.wait(10)
        return InstantClaudeClient()

    client = WarmingClaudeClient(build)
    waiter = asyncio.ensure_future(client.client())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    assert (await client.call(_request())).ok
    await client.aclose()


def test_bad_settings_raise_at_once_not_at_the_first_call() -> None:
    with pytest.raises(ConfigError):
        make_client_warming(load_settings(), pool_size=4)
