"""No orphan brokers: stop every live embedded broker when this process goes away.

The broker runs in its own session (so a terminal's Ctrl-C does not reach it half-way
through a test), which means nothing stops it for free when we exit. Three layers:

- ``atexit`` covers a normal exit and an unhandled KeyboardInterrupt;
- SIGTERM/SIGINT handlers (installed once, from the main thread, chaining to whatever
  handler was there before) cover being terminated; an asyncio app that later installs
  its own handlers with ``loop.add_signal_handler`` replaces ours and then exits
  normally, so ``atexit`` still runs;
- on Linux the child gets ``PR_SET_PDEATHSIG`` = SIGTERM when started from the main
  thread, which covers SIGKILL of the parent. (Not from other threads: the kernel fires it
  when the *thread* that forked exits, which would kill a broker started in a worker
  thread.)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Protocol

__all__ = ["Stoppable", "child_preexec", "forget", "track"]

_PR_SET_PDEATHSIG = 1


class Stoppable(Protocol):
    def stop(self) -> None: ...


_live: set[Stoppable] = set()
_lock = threading.RLock()  # re-entrant: a signal handler may run while it is held
_installed = False


def track(broker: Stoppable) -> None:
    """Remember a started broker until ``forget``; installs the exit hooks on first use."""
    with _lock:
        _live.add(broker)
    _install_once()


def forget(broker: Stoppable) -> None:
    with _lock:
        _live.discard(broker)


def stop_all() -> None:
    """Stop every tracked broker; used by atexit and the signal handlers."""
    with _lock:
        brokers = list(_live)
    for broker in brokers:
        with contextlib.suppress(Exception):  # best effort while the process is going away
            broker.stop()


def child_preexec() -> Callable[[], None] | None:
    """A preexec_fn that makes the child die with us, or None where that is not safe."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def _die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return _die_with_parent


def _install_once() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            _chain(signum)


def _chain(signum: int) -> None:
    previous = signal.getsignal(signum)
    if previous in (signal.SIG_IGN, None):
        return

    def _handler(num: int, frame: FrameType | None) -> None:
        stop_all()
        if callable(previous):
            previous(num, frame)
            return
        # SIG_DFL: restore it and re-deliver, so the exit status says "killed by signal".
        signal.signal(num, signal.SIG_DFL)
        os.kill(os.getpid(), num)

    signal.signal(signum, _handler)
