"""The last resort of ``docstream run``: after a stop signal the process ends in time.

The processor bounds its own shutdown on the worker's clock and then abandons what is
stuck (``stream.processor.SHUTDOWN_GRACE_S``), but closing the producer, the Claude
client and the event loop still follow, and ``asyncio.run`` waits for every task it
cancels: an abandoned task that ignores the cancel would hold the process. A thread
does not depend on the event loop, so it ends the process even then.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["ShutdownWatchdog"]

log = logging.getLogger(__name__)


class ShutdownWatchdog:
    """``arm()`` at the first stop signal; ``disarm()`` when the command finished. If
    ``after_s`` pass in between: one log line, then ``os._exit(exit_code)``."""

    def __init__(self, after_s: float, exit_code: int) -> None:
        self._after_s = after_s
        self._exit_code = exit_code
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self) -> None:
        with self._lock:
            if self._timer is not None:
                return  # a second signal does not move the bound
            self._timer = threading.Timer(self._after_s, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _expire(self) -> None:
        log.error(
            "the process did not end within %.0f s of the stop signal; exiting %d now",
            self._after_s,
            self._exit_code,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(self._exit_code)  # nothing else can end a loop held by a task
