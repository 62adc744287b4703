"""The blind ramp: how many calls may be reserved before the first answer.

Split from ``pacing`` so each module keeps to one job. Until a call has come back, no
header has told the budget: only ``start`` calls may be outstanding, and with
``doubling_s`` that allowance doubles every ``doubling_s`` seconds since the first
reserve (up to ``most``) until the first answer of any kind. A server with room answers
slowly (a success takes a round trip) while a full one answers at once (a 429 or 529 is
refused before any work), so the first refusal stops the ramp within a few calls of the
server's budget or concurrency cap (design.md section 6). Of the allowance only our
share counts when the account is shared, so that a group ramps as one worker would.
"""

from __future__ import annotations

import math

from stream.concurrency.clock import Clock

__all__ = ["BlindRamp"]


class BlindRamp:
    """The allowance before the first answer (``start`` None: no ramp, nothing held)."""

    def __init__(
        self, clock: Clock, start: int | None, doubling_s: float | None, most: int | None
    ) -> None:
        if start is not None and start < 1:
            raise ValueError("blind_reservations must be >= 1 (or None)")
        if doubling_s is not None and doubling_s <= 0:
            raise ValueError("blind_doubling_s must be > 0 (or None)")
        self._clock = clock
        self._start = start
        self._doubling = doubling_s
        self._most = most if most is not None else math.inf
        self._started: float | None = None  # the first reserve
        self.informed = False  # a call has reached the server and come back

    @property
    def active(self) -> bool:
        """Before the first answer, while the allowance holds calls back."""
        return self._start is not None and not self.informed

    def begin(self) -> None:
        """The first reserve starts the clock of the doublings."""
        if self._started is None:
            self._started = self._clock.now()

    def holds(self, outstanding: int, share: float) -> bool:
        """Whether one more reservation must wait (``outstanding`` already made). Without
        this cap a worker's whole buffer reserved unpaced at start and then went out at
        the limiter's pace, whatever the headers said meanwhile."""
        return self.active and outstanding >= self.allowance(share)

    def allowance(self, share: float) -> int:
        base = self._base(share)
        if self._doubling is None or self._started is None:
            return max(int(base + 1e-9), 1)
        doublings = (self._clock.now() - self._started) / self._doubling
        grown = base * 2.0 ** min(doublings, 60.0)
        return max(int(min(grown, self._most) + 1e-9), 1)

    def until_grows(self, share: float) -> float:
        """Seconds until the allowance admits one more call (inf: it never grows)."""
        allowance = self.allowance(share)
        if self._doubling is None or self._started is None or allowance >= self._most:
            return math.inf
        at = self._started + self._doubling * math.log2((allowance + 1) / self._base(share))
        return max(at - self._clock.now(), 1e-6)

    def _base(self, share: float) -> float:
        return (self._start or 1) * share
