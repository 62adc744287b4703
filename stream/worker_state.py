"""What a running worker is doing, in words: the live panel's title and ``/readyz``.

One table, ``_RULES``, decides the state from what the processor and the caller expose;
the first rule that matches wins. Readiness is part of the state: a worker is ready when
it holds partitions and is not paused by a fatal outcome or draining for shutdown (an open
breaker or a wait for rate-limit budget are passing conditions, not a reason to restart).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stream.concurrency import Clock

__all__ = ["RUNNING", "Phase", "WorkerState", "WorkerView", "describe", "longest_hold"]


class Phase(enum.Enum):
    JOINING = "joining"
    RUNNING = "running"
    WAITING = "waiting for budget"
    PAUSED = "paused"
    DRAINING = "draining"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class WorkerState:
    phase: Phase
    detail: str
    ready: bool

    @property
    def title(self) -> str:
        return self.phase.value + (f": {self.detail}" if self.detail else "")


RUNNING = WorkerState(Phase.RUNNING, "", True)


@dataclass(frozen=True, slots=True)
class WorkerView:
    """The live facts a state is decided from (read on the event loop)."""

    finished: bool
    assigned: int
    pause_reasons: frozenset[str]
    budget_waits: tuple[str, ...]  # per model: what its pacer's head reservation waits for
    retry_after_s: float | None  # longest retry-after still holding a model, if any


_PAUSE_WORDS = {
    "fatal": "auth, config or spend-cap outcome",
    "breaker": "circuit breaker open",
}


def _paused(view: WorkerView) -> str | None:
    found = [_PAUSE_WORDS[r] for r in sorted(view.pause_reasons) if r in _PAUSE_WORDS]
    return ", ".join(found) or None


def _budget(view: WorkerView) -> str | None:
    if view.budget_waits:
        return "rate-limit " + ", ".join(sorted(set(view.budget_waits)))
    if view.retry_after_s is not None:
        return f"retry-after {view.retry_after_s:.0f}s"
    return None


Rule = tuple[Phase, Callable[[WorkerView], str | None], bool]

# (phase, detail if it applies else None, ready). First match wins.
_RULES: tuple[Rule, ...] = (
    (Phase.DONE, lambda v: "" if v.finished else None, False),
    (Phase.DRAINING, lambda v: "" if "shutdown" in v.pause_reasons else None, False),
    (Phase.PAUSED, lambda v: _paused(v) if "fatal" in v.pause_reasons else None, False),
    (Phase.JOINING, lambda v: "consumer group" if v.assigned == 0 else None, False),
    (Phase.PAUSED, _paused, True),
    (Phase.WAITING, _budget, True),
    (Phase.RUNNING, lambda _: "", True),
)


def describe(view: WorkerView) -> WorkerState:
    for phase, detail, ready in _RULES:
        found = detail(view)
        if found is not None:
            return WorkerState(phase, found, ready)
    raise AssertionError("the RUNNING rule always matches")


def longest_hold(clock: Clock, opens_at: Iterable[float | None]) -> float | None:
    """Seconds until the last of ``opens_at`` (clock times) passes; None if all are open."""
    now = clock.now()
    remaining = [t - now for t in opens_at if t is not None and t > now]
    return max(remaining, default=None)
