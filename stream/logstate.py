"""Logs that say what changed, not the same line a thousand times.

``StateLog`` is for our own loops: one line when a trouble starts, one when it changes
or ends, with the count of repeats in between. ``RepeatFilter`` does the same for
loggers we do not own (aiokafka retries a failing commit or connection every ~100 ms
and logs each try): a line seen in the last ``every_s`` is counted instead of logged,
and its next copy after that carries the count.
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
    """Lets a line (logger, level, text) through once per ``every_s``; the copies in
    between are dropped and counted, and the next copy let through says how many. Lines
    that alternate (aiokafka logs "Unable connect" and "Unable to update metadata" in
    turn) are each counted on their own."""

    def __init__(
        self,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_lines: int = 1000,
    ) -> None:
        super().__init__()
        self._every_s = every_s
        self._clock = clock
        self._max_lines = max_lines
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # -> (let through, dropped)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self._every_s:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg = f"{key[2]} [{seen[1]} repeated lines dropped]"
            record.args = None
        if len(self._seen) >= self._max_lines:
            self._seen.clear()  # bounded memory; at worst a line shows up once more
        self._seen[key] = (now, 0)
        return True
