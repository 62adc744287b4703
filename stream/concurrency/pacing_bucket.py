"""The pacer's local mirror of one server-side bucket (requests, input or output tokens).

Split from ``pacing`` so each module keeps to one job: ``HeadroomPacer`` decides who may
go, ``TokenBucket`` keeps the arithmetic of one bucket between two headers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stream.concurrency.clock import Clock

__all__ = ["TokenBucket"]

_TOLERANCE = 1e-9  # a shortfall this small (float rounding of the refill) is no shortfall


class TokenBucket:
    """A continuously refilled budget that may go negative (debt is paid by refill).

    ``sync()`` replaces the state with the server's view. Its optional ``full_at`` (a
    clock time, from the ``reset`` header) is when the server promises the bucket will
    be full again: from then on the level is at least ``capacity`` minus what has been
    debited locally since the sync.
    """

    def __init__(
        self, capacity: float, refill_per_s: float, clock: Clock, *, level: float | None = None
    ) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be > 0")
        self._clock = clock
        self._capacity = float(capacity)
        self._refill = float(refill_per_s)
        self._level = self._capacity if level is None else min(float(level), self._capacity)
        self._updated = clock.now()
        self._full_at: float | None = None
        self._ceiling = self._capacity  # what the bucket can hold (<= capacity, see sync)
        self._seen = 0.0  # the most it was seen to hold since the limit last changed
        self.changed_at = -math.inf  # clock time a sync last brought a different limit
        self._since_sync = 0.0
        self._share = 1.0  # the fraction of the refill that is ours (see ``sync``)

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def ceiling(self) -> float:
        """What the bucket holds when full: ``capacity``, or less when the reset header
        said it fills sooner than a whole window would take."""
        return self._ceiling

    @property
    def refill_per_s(self) -> float:
        return self._refill

    @property
    def share(self) -> float:
        return self._share

    @property
    def _ours(self) -> float:
        """Our part of a full bucket: three workers that each counted a full bucket as
        theirs after an idle spell sent three buckets' worth at the next job's start."""
        return self._ceiling * self._share

    @property
    def level(self) -> float:
        self._catch_up()
        return self._level

    def debit(self, amount: float) -> None:
        """Take ``amount`` now, even into debt."""
        self._catch_up()
        self._level -= amount
        self._since_sync += amount

    def credit(self, amount: float) -> None:
        """Give ``amount`` back (a negative amount debits), never above capacity."""
        self._catch_up()
        self._level = min(self._ours, self._level + amount)
        self._since_sync -= amount

    def time_until(self, amount: float) -> float:
        """Seconds until the level reaches ``min(amount, our part of a full bucket)``
        (0 if it has)."""
        self._catch_up()
        # An amount above our part of the bucket waits for our part to be full (and then
        # goes into debt): a tenth of a 10-request bucket never reached a request and
        # its margin, and three workers stopped for good.
        need = min(amount, self._ours)
        if self._level >= need - _TOLERANCE * max(1.0, abs(need)):
            return 0.0
        wait = (need - self._level) / (self._refill * self._share)
        if self._full_at is not None:
            wait = min(wait, self._full_at - self._updated)
        return max(wait, 0.0)

    def sync(
        self,
        *,
        capacity: float,
        refill_per_s: float,
        level: float,
        full_at: float | None = None,
        remaining: float | None = None,
        as_of: float | None = None,
        share: float = 1.0,
        spent: Sequence[tuple[float, float]] = (),
    ) -> None:
        """Adopt the server's numbers (capacity, refill, level, time of full refill).

        ``remaining`` is the server's own count (``level`` may hold back what local
        reservations will take); with ``full_at`` it bounds what the bucket can hold.
        ``as_of``: the clock time the server's numbers describe (when it admitted the
        call whose response carried them, a round trip ago). The refill since then is
        added: without it every header looked a latency's worth of refill poorer than
        the account was, and a 1 s call at 50 requests/s hid 50 requests.
        ``share``: the fraction of the refill, and of what remains, that is ours when
        others spend the account too (``pacing_share.RefillShare``).
        ``spent``: (send time, amount) of the local reservations in ``level``'s hold
        that went out after ``as_of``, oldest first: the refill is capped at the ceiling
        between them, as the server's bucket was, not over the whole round trip (at
        one bucket of refill per round trip that cap took a request off every sync)."""
        if capacity <= 0 or refill_per_s <= 0 or not 0 < share <= 1:
            raise ValueError("capacity and refill_per_s must be > 0, share in (0, 1]")
        now = self._clock.now()
        since = now if as_of is None else min(as_of, now)
        has = float(level) if remaining is None else float(remaining)
        held = has - float(level)  # what local reservations will take beyond the server's count
        if float(capacity) != self._capacity:
            self._seen = 0.0  # a new limit: what the old one held says nothing
            # but the interval it is enforced over stays: a 1200 RPM bucket that held
            # 20 (one second) holds 50 at 3000 RPM, not 3000 (a burst of 429s at the
            # limit's return when the pacer counted on the whole minute)
            span = self._ceiling / self._refill
            self._ceiling = min(float(capacity), span * float(refill_per_s))
            self.changed_at = self._clock.now()
        self._capacity = float(capacity)
        self._refill = float(refill_per_s)
        self._seen = max(self._seen, has + 1.0)  # it held this call and what remained
        # Without a (future) reset, what earlier resets said still holds.
        self._ceiling = min(self._capacity, max(self._ceiling, self._seen))
        if full_at is not None:
            # Full by then: it holds what it had plus that refill. A reset is given in
            # whole seconds, rounded up, so one second of it may not be refill at all.
            span = max(full_at - since - 1.0, 0.0)
            estimate = max(has, 0.0) + span * self._refill
            self._ceiling = min(self._capacity, max(estimate, self._seen))
        self._ceiling = max(self._ceiling, 1.0)
        self._share = float(share)
        refilled = share * has if has > 0 else has
        at, taken, full = since, 0.0, self._ours
        for sent_at, amount in spent:
            if sent_at > at:
                refilled = min(refilled + (sent_at - at) * self._refill * share, full)
                at = sent_at
            refilled -= amount
            taken += amount
        refilled = min(refilled + max(now - at, 0.0) * self._refill * share, full)
        self._level = min(refilled - (held - taken), self._capacity)
        self._updated = now
        self._full_at = full_at
        # "Full at the reset" assumes nothing taken after the server counted: what local
        # reservations will take (``held``) is taken after it, like later debits.
        self._since_sync = max(held, 0.0)

    def set_share(self, share: float) -> None:
        """From now on ``share`` of the refill is ours (the level so far stays ours)."""
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self._catch_up()
        self._share = float(share)
        self._level = min(self._level, self._ours)

    def witness(self, remaining: float) -> None:
        """A header not adopted (older than the last) still shows what the bucket held:
        the ceiling is at least that and the call it answered."""
        self._seen = max(self._seen, float(remaining) + 1.0)
        self._ceiling = min(self._capacity, max(self._ceiling, self._seen))

    def _catch_up(self) -> None:
        now = self._clock.now()
        if now > self._updated:
            gained = (now - self._updated) * self._refill * self._share
            self._level = min(self._ours, self._level + gained)
            self._updated = now
        if self._full_at is not None and now >= self._full_at:
            # others fill the same bucket with their calls: only our share is promised
            promised = self._ceiling * self._share - max(self._since_sync, 0.0)
            self._level = max(self._level, promised)
            self._full_at = None

    def __repr__(self) -> str:
        return f"<TokenBucket {self.level:.1f}/{self._capacity:.0f} +{self._refill:.2f}/s>"
