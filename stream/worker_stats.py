"""What a worker counts as it runs, and when it stops on its own (``--max-documents``,
``--until-idle``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["StopPolicy", "WorkerStats"]


@dataclass(frozen=True, slots=True)
class StopPolicy:
    max_documents: int | None = None  # stop fetching after N records, finish them, exit 0
    until_idle_s: float | None = None  # exit 0 after this long with nothing to do


@dataclass(slots=True)
class WorkerStats:
    started: float
    dispatched: int = 0
    results: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by outcome/error class
    attempts: int = 0
    commits: int = 0
    skipped: int = 0  # finished before a restart (processing.skip_finished)

    @property
    def processed(self) -> int:
        return self.results + sum(self.dead_lettered.values())
