"""Helpers for the simulator tests: an SDK client maker, a manual clock, a request maker.

The official SDK is imported here on purpose: the simulator's contract is that the
unmodified SDK talks to it, so the tests speak through the SDK, not around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic

MODEL = "claude-haiku-4-5"


class ManualClock:
    """A monotonic clock the test moves by hand (no sleeping)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def sdk(base_url: str, **options: Any) -> anthropic.AsyncAnthropic:
    """The official async client as docstream uses it: no SDK retries."""
    return anthropic.AsyncAnthropic(base_url=base_url, api_key="sim", max_retries=0, **options)


def ask(text: str, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for messages.create with one user turn."""
    return {
        "model": MODEL,
        "max_tokens": 512,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``predicate`` (server-side state) until true; fail after ``timeout_s``."""
    for _ in range(int(timeout_s / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in time")
