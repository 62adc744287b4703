"""Once a worker process has started, keep the cyclic GC from re-scanning start-up.

Importing the Claude SDK (its generated types and their pydantic schemas), aiokafka and
the rest leaves about 200,000 long-lived objects, and every full (generation 2)
collection walks all of them: 50-110 ms of CPU each on the benchmark machine, one in a
500-document job at 50 documents/s (`docstream bench job steady`, about 4 % of the
worker's CPU for the job), and more over a long run. ``gc.freeze()`` after start-up
moves them to the permanent generation, which collections skip.

Only the process's owner may do this (``docstream run``, the benchmark workers): it
affects every object of the process, so ``run_worker`` used as a library leaves it off;
and it is undone (``gc.unfreeze()``) when the worker's run ends.
Reference counting still frees frozen objects as before; only reference cycles among
them would no longer be collected. There is no collection before the freeze: the full
collections during start-up found 10-15 objects in cycles, and one more would hold the
event loop for 50-110 ms just as the first calls go out (the freeze waits for the
client the first call waits for).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["freeze_after"]

log = logging.getLogger(__name__)


async def _freeze_when(started: Callable[[], Awaitable[object]]) -> None:
    with contextlib.suppress(Exception):  # a failed client build is the caller's to report
        await started()
    gc.freeze()
    log.debug("start-up done: %d objects frozen out of the cyclic GC", gc.get_freeze_count())


@contextlib.asynccontextmanager
async def freeze_after(started: Callable[[], Awaitable[object]] | None) -> AsyncIterator[None]:
    """With ``started`` (e.g. waiting for the Claude client to be built), freeze the GC's
    view of the process once it returns, until the block ends. None: nothing."""
    if started is None:
        yield
        return
    task = asyncio.ensure_future(_freeze_when(started))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if task.done() and not task.cancelled():
            # The worker's run is over: what was frozen is the GC's again (a process
            # that runs a worker in-process, like the CLI tests, goes on as before).
            gc.unfreeze()
