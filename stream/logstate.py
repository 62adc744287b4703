"""Logs that say what changed, not the same line a thousand times.

``StateLog`` is for our own loops: one line when a trouble starts, one when it changes
or ends, with the count of repeats in between. ``RepeatFilter`` does the same for
loggers we do not own (aiokafka retries a failing commit or connection every ~100 ms
and logs each try): identical messages after the first are counted, and the next line
that gets through (a different message, or the same one once ``every_s`` has passed)
carries the count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RepeatFilter", "StateLog"]


class StateLog:
    def __init__(self, logger: logging.Logger, subject: str) -> None:
        self._log = logger
        self._subject = subject
        self._current: str | None = None
        self._repeats = 0

    def note(self, trouble: str | None) -> None:
        """The state now: a trouble (a short description, no document text) or None."""
        if trouble == self._current:
            self._repeats += trouble is not None
            return
        if trouble is None:
            self._log.warning(
                "%s: ok again (%s, %d times)", self._subject, self._current, self._repeats + 1
            )
        elif self._current is None:
            self._log.warning("%s: %s (repeats are counted, not logged)", self._subject, trouble)
        else:
            self._log.warning(
                "%s: %s (before: %s, %d times)",
                self._subject,
                trouble,
                self._current,
                self._repeats + 1,
            )
        self._current, self._repeats = trouble, 0


class RepeatFilter(logging.Filter):
    """Drops a record identical (logger, level, text) to the last one let through, for
    up to ``every_s``; the next record let through says how many were dropped."""

    def __init__(self, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, tuple[tuple[int, str], float]] = {}
        self._dropped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, record.getMessage())
        now = self._clock()
        last = self._last.get(record.name)
        if last is not None and last[0] == key and now - last[1] < self._every_s:
            self._dropped[record.name] = self._dropped.get(record.name, 0) + 1
            return False
        dropped = self._dropped.pop(record.name, 0)
        if dropped:
            record.msg = f"{record.getMessage()} [{dropped} repeated lines dropped]"
            record.args = None
        self._last[record.name] = (key, now)
        return True
