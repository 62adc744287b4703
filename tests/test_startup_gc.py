"""Freezing start-up's objects out of the cyclic GC: only when asked, after start-up."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from stream.startup_gc import freeze_after


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    """The test process is not ours to freeze: undo it after each test."""
    gc.unfreeze()
    yield
    gc.unfreeze()


async def test_start_up_objects_are_frozen_once_start_up_has_finished() -> None:
    built = asyncio.Event()

    async def client_built() -> None:
        await built.wait()

    async with freeze_after(client_built):
        await asyncio.sleep(0.01)
        assert gc.get_freeze_count() == 0  # still starting: nothing frozen yet
        built.set()
        for _ in range(100):
            await asyncio.sleep(0)
            if gc.get_freeze_count():
                break
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # the run is over: nothing stays frozen


async def test_a_failed_start_up_still_freezes_and_the_error_is_left_to_the_caller() -> None:
    async def build_failed() -> None:
        raise RuntimeError("no SDK")

    async with freeze_after(build_failed):
        for _ in range(100):
            await asyncio.sleep(0)
            if gc.get_freeze_count():
                break
        assert gc.get_freeze_count() > 0


async def test_without_a_start_up_to_wait_for_nothing_is_frozen() -> None:
    async with freeze_after(None):
        await asyncio.sleep(0.01)
    assert gc.get_freeze_count() == 0


async def test_a_block_that_ends_before_start_up_ends_its_waiting_task() -> None:
    never = asyncio.Event()

    async def client_built() -> None:
        await never.wait()

    async with freeze_after(client_built):
        pass
    assert gc.get_freeze_count() == 0
    assert len(asyncio.all_tasks()) == 1  # only this test's own task is left
