"""aiokafka's own log lines, counted instead of repeated (see ``stream.logstate``).

With the broker down, or a commit answered with a retriable error, aiokafka retries
every ~100 ms and logs every try (measured: 7 MB in minutes). The filter goes on every
aiokafka logger, since a logger's filters do not apply to its children's records.
"""

from __future__ import annotations

import logging

from stream.logstate import RepeatFilter

__all__ = ["count_repeated_lines"]

_FILTER = RepeatFilter()


def count_repeated_lines() -> None:
    """Put the repeat filter on every aiokafka logger that exists (idempotent)."""
    for name in list(logging.root.manager.loggerDict):
        if name == "aiokafka" or name.startswith("aiokafka."):
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
