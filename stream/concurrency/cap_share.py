"""One 529 cap shared by a group's workers in proportion to their backlogs.

Each worker learns its own part of a server's concurrency cap from its own 529s
(``cap_hold``): the calls it had in flight when one was refused. Three workers whose
blind ramps started a few tens of milliseconds apart learned 18, 17 and 29 of a cap of
64 for backlogs of 171, 159 and 170 documents, and held them: the one with 29 finished
two round trips early and the others, probing one call above their level every three
round trips, took a round trip more than one worker would have (a 500-document job at
0.80 of the ideal). With the backlog board (``stream.backlog_board``) every note also
carries the worker's calls in flight and its estimate of the group's cap, and:

- **Estimate.** At a 529 the server was full: the group's cap is this worker's calls in
  flight beside the refused one plus the others' calls in flight as their notes said.
  The group's cap is the largest estimate on the board: a note is at most a tick old,
  and a peer growing meanwhile makes the estimate low, never high, for long.
- **Share.** A worker's part is the cap times its share of the group's backlog. Above
  its part it holds its part at once (its calls in flight end within a round trip);
  below it, it grows only into room that is free now, the cap less every worker's calls
  in flight, and by an even part of it per tick (the others may be reading the same
  room at the same moment). So a drained worker's slots go to the others as its last calls end, not
  before (growing earlier was answered with 529s that cut the limit back). It grows
  only on notes written since its own job began: at a job's start every worker read
  the others' notes of the idle time (backlog 0, nothing in flight), took a share of
  1.0 and all of the room, and three workers sent 54 calls each into a cap of 64.
- **Idle.** A worker with nothing to do holds an even part of the cap, where the next
  job starts.

Pure: the worker's board task calls ``shared_level`` each tick for each model whose
limit holds a cap (``HoldsCap``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "CapEstimate",
    "HoldsCap",
    "PeerCap",
    "cap_after_refusal",
    "group_cap",
    "idle_level",
    "shared_level",
]


@runtime_checkable
class HoldsCap(Protocol):
    """A limit that can hold a level under a 529 cap (``AIMDLimit`` with ``cap_hold``)."""

    @property
    def held(self) -> int | None:
        """The level held under a cap learned from a 529; None while not holding."""
        ...

    def share_hold(self, level: int, now: float) -> int:
        """Hold ``level`` instead (the group's cap shared); returns the limit."""
        ...


@dataclass(frozen=True, slots=True)
class CapEstimate:
    """A worker's estimate of the group's cap, and when it made it (wall-clock seconds)."""

    value: int
    at: float


@dataclass(frozen=True, slots=True)
class PeerCap:
    """One model as a peer's last note describes it."""

    inflight: int
    cap: CapEstimate | None  # None before its first 529
    at: float = 0.0  # when the peer wrote its note (wall-clock seconds)


def cap_after_refusal(
    granted: int, held: int | None, peers: Iterable[PeerCap], current: int | None
) -> int:
    """The group's cap by a 529 of a call granted with ``granted`` calls in flight
    (itself included): the others beside it and the peers' calls in flight. A 529 that
    no probe of ours explains (granted at or below the level held) says the group was
    over the cap it believed in: never above that less one."""
    seen = granted - 1 + sum(p.inflight for p in peers)
    if current is not None and held is not None and granted <= held:
        return min(seen, current - 1)
    return seen


def group_cap(own: CapEstimate | None, peers: Iterable[PeerCap]) -> int | None:
    """The latest estimate on the board: a later 529 knows better."""
    estimates = [c for c in (own, *(p.cap for p in peers)) if c is not None]
    return max(estimates, key=lambda c: c.at).value if estimates else None


def shared_level(
    *, level: int, inflight: int, cap: int, share: float, peers: list[PeerCap], grow: bool
) -> int:
    """The level to hold: the part ``share`` of ``cap``, reached at once from above and
    from below (``grow``: the peers' notes are newer than this worker's job) by an even
    part of the room free now (``cap`` less all calls in flight), which every worker
    may be reading at the same moment."""
    target = max(1, round(cap * share))
    if target <= level or not grow:
        return min(target, level)
    room = cap - inflight - sum(p.inflight for p in peers)
    return level + max(0, min(target - level, math.ceil(room / (len(peers) + 1))))


def idle_level(cap: int, peers: int) -> int:
    """Nothing to do: an even part of the cap, where the next job starts (the level a
    worker grew to while the others drained is theirs again: three workers that kept
    it started the next job at 54 calls each against a cap of 64)."""
    return max(1, cap // (peers + 1))
