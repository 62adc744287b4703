"""Pacing from the server's own headroom: wait for budget instead of collecting a 429.

The Messages API meters each model with token buckets (requests, input tokens, output
tokens per minute), refilled continuously, and reports them on every response as
``anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,remaining,reset}``.
``HeadroomPacer`` mirrors those three buckets locally. Each call *reserves* its estimate
before it is sent (input tokens estimated, output tokens at ``max_tokens``, as the API
itself does), waiting on the clock while a bucket is short, then *reconciles* with the
real ``usage`` (refunding output down to what was produced) or *releases* the
reservation if the call never reached the server.

Until a bucket has been seen in a header it is unknown and does not pace: a fresh worker
starts at full speed and lets the first response tell it the budget. With
``blind_reservations=N`` only N calls may be reserved before that first response; the
others wait for it, so a full buffer does not go out unpaced.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from stream.concurrency.clock import Clock, sleep_or_event
from stream.concurrency.priority import LOWEST, Priority, PriorityTurn

__all__ = ["BUCKET_KINDS", "HeadroomPacer", "Reservation", "TokenBucket"]

BUCKET_KINDS = ("requests", "input-tokens", "output-tokens")

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
        self._since_sync = 0.0

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def refill_per_s(self) -> float:
        return self._refill

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
        self._level = min(self._capacity, self._level + amount)
        self._since_sync -= amount

    def time_until(self, amount: float) -> float:
        """Seconds until the level reaches ``min(amount, capacity)`` (0 if it has)."""
        self._catch_up()
        need = min(amount, self._capacity)
        if self._level >= need - _TOLERANCE * max(1.0, abs(need)):
            return 0.0
        wait = (need - self._level) / self._refill
        if self._full_at is not None:
            wait = min(wait, self._full_at - self._updated)
        return max(wait, 0.0)

    def sync(
        self, *, capacity: float, refill_per_s: float, level: float, full_at: float | None = None
    ) -> None:
        """Adopt the server's numbers (capacity, refill, level, time of full refill)."""
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be > 0")
        self._capacity = float(capacity)
        self._refill = float(refill_per_s)
        self._level = min(float(level), self._capacity)
        self._updated = self._clock.now()
        self._full_at = full_at
        self._since_sync = 0.0

    def _catch_up(self) -> None:
        now = self._clock.now()
        if now > self._updated:
            self._level = min(self._capacity, self._level + (now - self._updated) * self._refill)
            self._updated = now
        if self._full_at is not None and now >= self._full_at:
            self._level = max(self._level, self._capacity - max(self._since_sync, 0.0))
            self._full_at = None

    def __repr__(self) -> str:
        return f"<TokenBucket {self.level:.1f}/{self._capacity:.0f} +{self._refill:.2f}/s>"


class Reservation:
    """Budget taken for one call; settled once by ``reconcile`` or ``release``."""

    __slots__ = ("_settled", "_synced", "input_tokens", "output_tokens", "requests", "seq")

    def __init__(self, seq: int, input_tokens: int, output_tokens: int) -> None:
        self.seq = seq
        self.requests = 1
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self._settled = False
        self._synced = False  # its own response's headers were adopted

    @property
    def settled(self) -> bool:
        return self._settled

    def amounts(self) -> dict[str, float]:
        return {
            "requests": float(self.requests),
            "input-tokens": float(self.input_tokens),
            "output-tokens": float(self.output_tokens),
        }

    def __repr__(self) -> str:
        return f"<Reservation #{self.seq} in={self.input_tokens} out={self.output_tokens}>"


class HeadroomPacer:
    """Three header-synchronised buckets; ``reserve`` waits until all allow the estimate.

    A header sync sets each bucket to ``capacity = limit``, ``refill = limit / 60 s`` and
    ``level = remaining - held``, where *held* is what reservations still in flight have
    taken and the server may not have counted yet. Given the ``reservation`` of the call
    whose response carried the headers, only reservations made after it are subtracted
    (the server counted that call and everything sent before it), and that call's own
    ``reconcile`` leaves the synced buckets alone. Without it, all outstanding
    reservations are subtracted. Either way the pacer may under-estimate the budget by
    about one window of in-flight reservations, never over-estimate it by more than a
    call's refund; every later header corrects it.

    Safety margins keep ``request_margin`` requests and ``token_margin`` (a fraction of
    capacity) tokens unspent, so estimation errors and other workers' calls between two
    headers rarely turn into a 429. A single estimate above a bucket's capacity waits for
    a full bucket and then goes into debt rather than waiting forever. Reservations are
    served in arrival order.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        wall: Callable[[], float] = time.time,
        request_margin: float = 1.0,
        token_margin: float = 0.01,
        refill_window_s: float = 60.0,
        blind_reservations: int | None = None,
    ) -> None:
        if request_margin < 0 or not 0 <= token_margin < 1 or refill_window_s <= 0:
            raise ValueError("margins must be >= 0 (token_margin < 1), refill_window_s > 0")
        if blind_reservations is not None and blind_reservations < 1:
            raise ValueError("blind_reservations must be >= 1 (or None)")
        self._clock = clock
        self._wall = wall
        self._request_margin = request_margin
        self._token_margin = token_margin
        self._window = refill_window_s
        self._buckets: dict[str, TokenBucket] = {}
        self._outstanding: dict[int, Reservation] = {}
        self._seq = itertools.count(1)
        self._turn = PriorityTurn()
        self._changed = asyncio.Event()
        self._blind = blind_reservations
        self._informed = False  # a call has reached the server and come back
        self._blocked_on: str | None = None

    def bucket(self, kind: str) -> TokenBucket | None:
        """The bucket for ``kind`` (one of ``BUCKET_KINDS``), or None while unknown."""
        return self._buckets.get(kind)

    @property
    def blocked_on(self) -> str | None:
        """What the reservation at the head of the queue waits for: a bucket kind
        ("requests", "input-tokens", "output-tokens") or "first answer"; None if none waits.
        (One waiter at a time loops; the others wait for their turn behind it.)"""
        return self._blocked_on

    @property
    def outstanding(self) -> int:
        """Reservations neither reconciled nor released."""
        return len(self._outstanding)

    def observe_headers(
        self, headers: Mapping[str, str], reservation: Reservation | None = None
    ) -> None:
        """Sync every bucket the headers describe (names are matched case-insensitively)."""
        self._informed = True
        lower = {name.lower(): value for name, value in headers.items()}
        newer = [
            r for r in self._outstanding.values() if reservation is None or r.seq > reservation.seq
        ]
        for kind in BUCKET_KINDS:
            prefix = f"anthropic-ratelimit-{kind}-"
            limit = _parse_int(lower.get(prefix + "limit"))
            remaining = _parse_int(lower.get(prefix + "remaining"))
            if limit is None or remaining is None or limit <= 0:
                continue
            held = sum(r.amounts()[kind] for r in newer)
            self._sync(kind, limit, remaining - held, self._full_at(lower.get(prefix + "reset")))
            if reservation is not None:
                reservation._synced = True
        self._notify()

    async def reserve(
        self, input_tokens: int, output_tokens: int, priority: Priority = LOWEST
    ) -> Reservation:
        """Waits until every known bucket allows the estimate, then takes it. Waiters take
        turns by priority (lowest first), so an older document's next stage goes ahead."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token estimates must be >= 0")
        amounts = {"requests": 1.0, "input-tokens": input_tokens, "output-tokens": output_tokens}
        async with self._turn(priority):
            try:
                while True:
                    changed = self._changed
                    if self._flying_blind():
                        self._blocked_on = "first answer"
                        await changed.wait()  # the first answer, or a blind call settled
                        continue
                    waits = {k: self._wait_for(k, float(a)) for k, a in amounts.items()}
                    kind = max(waits, key=waits.__getitem__)
                    if waits[kind] <= 0:
                        break
                    self._blocked_on = kind
                    await sleep_or_event(self._clock, waits[kind], changed)
            finally:
                self._blocked_on = None
            for kind, amount in amounts.items():
                if (bucket := self._buckets.get(kind)) is not None:
                    bucket.debit(amount)
            reservation = Reservation(next(self._seq), input_tokens, output_tokens)
            self._outstanding[reservation.seq] = reservation
            return reservation

    def reconcile(self, reservation: Reservation, input_tokens: int, output_tokens: int) -> None:
        """Correct the estimate with the call's real usage (refund or extra debit).

        If this call's own headers were passed to ``observe_headers`` the buckets are
        left as synced: the server's numbers already count this call (at worst with its
        estimate, which the next header corrects), so a refund here could count twice.
        """
        self._settle(reservation)
        self._informed = True
        if reservation._synced:
            self._notify()
            return
        actual = {"input-tokens": input_tokens, "output-tokens": output_tokens}
        for kind, used in actual.items():
            if (bucket := self._buckets.get(kind)) is not None:
                bucket.credit(reservation.amounts()[kind] - used)
        self._notify()

    def release(self, reservation: Reservation) -> None:
        """Give the whole reservation back: the call never reached the server."""
        self._settle(reservation)
        for kind, amount in reservation.amounts().items():
            if (bucket := self._buckets.get(kind)) is not None:
                bucket.credit(amount)
        self._notify()

    def _settle(self, reservation: Reservation) -> None:
        if reservation.settled:
            raise RuntimeError(f"{reservation!r} already reconciled or released")
        reservation._settled = True
        self._outstanding.pop(reservation.seq, None)

    def _flying_blind(self) -> bool:
        """Before any answer, only ``blind_reservations`` calls may be outstanding: the
        rest wait for the first response to tell the budget (or that there is none).
        Without this cap a worker's whole buffer reserved unpaced at start and then went
        out at the limiter's pace, whatever the headers said meanwhile."""
        return (
            self._blind is not None and not self._informed and len(self._outstanding) >= self._blind
        )

    def _wait_for(self, kind: str, amount: float) -> float:
        bucket = self._buckets.get(kind)
        if bucket is None:
            return 0.0
        margin = (
            self._request_margin if kind == "requests" else self._token_margin * bucket.capacity
        )
        return bucket.time_until(amount + margin)

    def _sync(self, kind: str, limit: int, level: float, full_at: float | None) -> None:
        refill = limit / self._window
        bucket = self._buckets.get(kind)
        if bucket is None:
            bucket = self._buckets[kind] = TokenBucket(limit, refill, self._clock)
        bucket.sync(capacity=limit, refill_per_s=refill, level=level, full_at=full_at)

    def _full_at(self, reset: str | None) -> float | None:
        """The reset time as a clock time; None if absent, unreadable or not in the future."""
        when = _parse_rfc3339(reset)
        if when is None:
            return None
        ahead = when - self._wall()
        return self._clock.now() + ahead if ahead > 0 else None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) else None


def _parse_rfc3339(value: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (naive times are taken as UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
