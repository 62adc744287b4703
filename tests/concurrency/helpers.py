"""Small async helpers for the concurrency tests."""

from __future__ import annotations

import asyncio

__all__ = ["settle"]


async def settle(rounds: int = 20) -> None:
    """Let every runnable task take its next steps (no wall-clock time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
