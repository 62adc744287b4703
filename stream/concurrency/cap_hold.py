"""Holding just under a concurrency cap that the server answers with 529 (``AIMDLimit``).

A 529 for a call granted with ``c`` calls in flight (itself included) says the server
admits at most ``c - 1`` of ours at that moment. A multiplicative cut (``c * 0.9``)
throws that away: against a cap of 64 the limit sawed between 57 and 64, about 7 % of
the capacity unused. So:

- **Learn.** The first 529, or the first after a search (below), sets the limit to the
  calls that were in flight beside the refused one, ``c - 1``, and holds it there.
- **Probe.** After ``probe_rounds`` round trips' worth of answers at full use (the pool
  was full when the call was granted; ``probe_rounds * limit`` answers) the limit grows
  by one: one call above the held level. Against a full cap it is refused at once and
  the limit goes back to the held level, not below it: one 529 per probe, 1 / (64 *
  probe_rounds) of the requests against a cap of 64.
- **Room.** A call granted above the held level after the last cut that succeeds says
  the cap is higher now (it rose, or another worker left room): slow start again, +1
  per answer, until the next 529 teaches the new level. A 529 comes back in
  milliseconds and a success in a round trip, so the search finds it within one.
- **A 529 no probe of ours explains** (the limit at or below the held level: another
  worker took the slot, or the API is overloaded) cuts by the ratio, as AIMD does: a
  real overload still backs the limit off by a tenth per window of calls, and the
  workers that hold the most give back the most.
- **Idle.** A worker with nothing in flight goes back to the level it last learned from
  a 529 while holding (the first 529, a refused probe, a ratio cut; not the 529 that
  ends a search): room found while other workers drained was theirs, and a worker that
  kept it started the next job above its part (three workers sent 92 in the second
  second of a warm job against a cap of 64).
- A cut to the calls in flight never goes below ``floor(L * ratio)`` (a lone call
  refused while few were in flight says nothing about a cap), except on the first 529
  ever, where ``AIMDLimit``'s ramp rule applies (the ratio of the initial limit).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CapHold", "HoldVerdict"]


class HoldVerdict(enum.Enum):
    """What a success means while a cap is held."""

    HOLD = "hold"  # stay at the held level
    PROBE = "probe"  # time to try one call above it
    ROOM = "room"  # a call above it succeeded: the cap is higher now


@dataclass(slots=True)
class CapHold:
    """The held level and the count of answers that decides the next probe."""

    probe_rounds: int
    held: int | None = None  # None: not holding (no 529 yet, or searching after ROOM)
    full_since: int = 0  # answers at full use since the last cut or probe
    learned: int | None = None  # the level the last 529 while holding set (see Idle)

    def __post_init__(self) -> None:
        if self.probe_rounds < 1:
            raise ValueError(f"probe_rounds must be >= 1 (got {self.probe_rounds})")

    def cut(self, limit: int, inflight: int, guard: int) -> int:
        """The limit after a 529 of a call granted with ``inflight`` in flight (itself
        included). ``guard``: the ratio cut, the deepest a cut to the calls in flight
        may go, and the cut when no probe explains the 529."""
        self.full_since = 0
        if self.held is None:  # searching: the calls in flight beside it are the cap
            return min(limit - 1, max(inflight - 1, guard))
        if limit > self.held:  # our probe, refused: the held level was right
            return self.held
        return min(limit - 1, guard)  # no probe of ours explains it: give a tenth back

    def on_success(self, limit: int, inflight: int, *, after_cut: bool) -> HoldVerdict | None:
        """A success of a call granted with ``inflight`` in flight; ``after_cut``: it was
        granted after the last cut. None when no cap is held (ordinary growth)."""
        if self.held is None:
            return None
        if after_cut and inflight > self.held:
            self.held = None
            return HoldVerdict.ROOM
        if inflight < limit:
            return HoldVerdict.HOLD  # the pool was not full: the limit is not what binds
        self.full_since += 1
        if self.full_since < self.probe_rounds * limit:
            return HoldVerdict.HOLD
        self.full_since = 0
        return HoldVerdict.PROBE

    def hold_at(self, level: int) -> None:
        """Hold ``level``, set by a 529; it is learned unless that 529 ended a search
        (room found since the last level: it may be others' room)."""
        searching = self.held is None and self.learned is not None
        self.held = level
        if not searching:
            self.learned = level

    def idle(self, limit: int) -> int:
        """Nothing in flight: the limit to go back to (``limit`` if not above what was
        learned), held there as after that 529 (see Idle)."""
        if self.learned is None or limit <= self.learned:
            return limit
        self.held, self.full_since = self.learned, 0
        return self.learned

    def rebase(self, level: int) -> None:
        """Hold ``level`` from now on, learned as if a 529 had set it (the group's cap
        shared among its workers, ``cap_share``)."""
        self.held = self.learned = level
        self.full_since = 0

    def release(self) -> None:
        """Another kind of drop (429, timeout): ordinary AIMD rules from here."""
        self.held = None
