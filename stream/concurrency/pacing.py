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
others wait for it, so a full buffer does not go out unpaced. With ``blind_doubling_s``
as well, that allowance doubles every ``blind_doubling_s`` seconds (up to
``blind_max``) until the first answer of any kind: the *ramp*. A server with room
answers slowly (a success takes a round trip) while a full one answers at once (a 429
or 529 is refused before any work), so the first refusal stops the ramp within a few
calls of the server's budget or concurrency cap, long before the first success would
have told it (design.md section 6: find the cap in about one round trip). The ramp's
arithmetic is ``pacing_ramp.BlindRamp``.

A bucket's ``reset`` header also bounds how much it can hold: the API may enforce a
per-minute limit over a shorter interval (a 3000 RPM bucket that holds 50 requests), and
then ``remaining + seconds to reset x refill`` is far below the advertised limit. The
local mirror never refills beyond that, so an idle pause does not turn into a burst of
429s.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from stream.concurrency.clock import Clock, sleep_or_event
from stream.concurrency.pacing_bucket import TokenBucket
from stream.concurrency.pacing_headers import bucket_header, parse_rfc3339
from stream.concurrency.pacing_ramp import BlindRamp
from stream.concurrency.pacing_reservation import Reservation
from stream.concurrency.pacing_share import HeaderPoint, RefillShare
from stream.concurrency.priority import LOWEST, Priority, PriorityTurn

__all__ = ["BUCKET_KINDS", "HeadroomPacer", "Reservation", "TokenBucket"]

BUCKET_KINDS = ("requests", "input-tokens", "output-tokens")

_CHANGE_GRACE_S = 5.0  # a 429 this soon after the limit changed is not contention
_SENT_MEMORY_S = 600.0  # send times kept at most this long (longer than any round trip)
_FORGET_MIN = 256  # sends kept before the first pass of _forget_sends


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
        blind_doubling_s: float | None = None,
        blind_max: int | None = None,
        contended_s: float = 10.0,
        refill_share: RefillShare | None = None,
        spread_rate: float = 2.0,
        spread_s: float = 0.25,
        send_skew_s: float = 0.05,
    ) -> None:
        if request_margin < 0 or not 0 <= token_margin < 1 or refill_window_s <= 0:
            raise ValueError("margins must be >= 0 (token_margin < 1), refill_window_s > 0")
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
        self._ramp = BlindRamp(clock, blind_reservations, blind_doubling_s, blind_max)
        self._contended_until = -math.inf  # see ``refused``
        self._contended_s = contended_s
        self._sent: deque[tuple[float, Reservation]] = deque()  # (sent at, reservation)
        self._forget_at = _FORGET_MIN
        self._share = refill_share or RefillShare()
        self._spread_rate = spread_rate
        self._send_skew_s = send_skew_s
        self._spread_s = spread_s

        self._synced_as_of = -math.inf  # send time of the call whose headers were adopted last
        self._next_release = -math.inf  # see ``_spread``
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

    @property
    def ramping(self) -> bool:
        """Before the first answer, while the blind allowance holds calls back."""
        return self._ramp.active

    def room(self, input_tokens: int, output_tokens: int) -> int | None:
        """How many more calls of this size every known bucket allows now (margins kept);
        None while no bucket is known. The limiter grows to this at once."""
        amounts = {"requests": 1.0, "input-tokens": input_tokens, "output-tokens": output_tokens}
        fits: list[float] = []
        for kind, bucket in self._buckets.items():
            amount = float(amounts[kind])
            if amount > 0:
                fits.append((bucket.level - self._margin(kind, bucket)) / amount)
        return max(0, math.floor(min(fits))) if fits else None

    def observe_headers(
        self,
        headers: Mapping[str, str],
        reservation: Reservation | None = None,
        *,
        refused: bool = False,
    ) -> None:
        """Sync every bucket the headers describe (names are matched case-insensitively).
        ``refused``: the call was answered 429 or 529 (at once, without the latency)."""
        self._ramp.informed = True
        lower = {name.lower(): value for name, value in headers.items()}
        as_of = None if reservation is None else reservation.sent_at
        share = self._read_share(lower, reservation)
        if as_of is not None and as_of < self._synced_as_of:
            # Answers come back out of order. A call sent before the one whose headers
            # were last adopted saw the buckets earlier, before calls of others we cannot
            # take off: with three workers, such a late answer lifted a pacer by several
            # requests in the middle of a burst. What it saw the bucket hold still counts.
            self._witness(lower)
            self._notify()
            return
        if as_of is not None:
            self._synced_as_of = as_of
        newer = self._not_counted(reservation)
        # A refusal comes back at once: the server counted nothing as late as now (its
        # round trip reached 0.2 s here while a ramp's calls queued in the client).
        counted_at = self._clock.now() if refused and as_of is not None else as_of
        for kind in BUCKET_KINDS:
            limit, remaining, reset = bucket_header(lower, kind)
            if limit is None or remaining is None or limit <= 0:
                continue
            held = sum(r.amounts()[kind] for r in newer)
            spent = sorted((r.sent_at, r.amounts()[kind]) for r in newer if r.sent_at is not None)
            full_at = self._full_at(reset)
            # Contended: the refill since then is not counted on (see ``refused``),
            # unless the headers told our share of it: then that share is.
            since = None if self.contended and share >= 1.0 else counted_at
            self._sync(kind, limit, remaining - held, full_at, remaining, since, share, spent)
            if reservation is not None:
                reservation._synced = True
        self._notify()

    def _witness(self, lower: Mapping[str, str]) -> None:
        for kind, bucket in self._buckets.items():
            limit, remaining, _ = bucket_header(lower, kind)
            if limit == bucket.capacity and remaining is not None:
                bucket.witness(remaining)

    @property
    def share(self) -> float:
        """The fraction of the account's refill this worker counts as its own (1 alone)."""
        bucket = self._buckets.get("requests")
        return self._share.hint if bucket is None else self._share.share(bucket.refill_per_s)

    @property
    def share_hint(self) -> float:
        """The share counted as ours before the headers show the others (1 alone)."""
        return self._share.hint

    def set_share(self, fraction: float, *, known: bool) -> None:
        """Our part of the account: a hint the headers may correct, or (``known``) one
        that counts every spender of the group (their backlogs): then it holds as told,
        from now on, and a drained peer's part is ours at once."""
        if not 0 < fraction <= 1:
            raise ValueError(f"share must be in (0, 1], got {fraction}")
        self._share.hint = fraction
        self._share.known = known
        share = self.share
        for bucket in self._buckets.values():
            bucket.set_share(share)
        self._notify()

    def _read_share(self, lower: Mapping[str, str], reservation: Reservation | None) -> float:
        """Compare the requests header with the last one (``RefillShare``): the share of
        the refill that is ours. Headers around a change of the limit are not compared."""
        limit, remaining, _ = bucket_header(lower, "requests")
        bucket = self._buckets.get("requests")
        if limit is None or remaining is None or limit <= 0:
            return self.share
        refill = limit / self._window
        if reservation is None or reservation.sent_at is None or bucket is None:
            return self._share.share(refill)
        now = self._clock.now()
        if bucket.capacity != limit or now - bucket.changed_at < _CHANGE_GRACE_S:
            self._share.forget()
            return self._share.share(refill)
        point = HeaderPoint(reservation.sent_at, float(remaining), float(limit))
        self._share.observe(point, self._sent_between, refill, bucket.ceiling)
        return self._share.share(refill)

    def _sent_between(self, after: float, until: float) -> list[float]:
        """Send times of calls not known refused, sent in (after, until], oldest first."""
        found = []
        for sent_at, other in reversed(self._sent):
            if sent_at <= after:
                break
            if sent_at <= until and not other._refused:
                found.append(sent_at)
        found.reverse()
        return found

    def refused(self, reservation: Reservation, *, rate_limited: bool = False) -> None:
        """Its call was answered 429 (``rate_limited``) or 529: the server did not count
        it, so it is not held against the next header either.

        A 429 outside the blind ramp, and not just after the advertised limit changed
        (our reading catching up), means someone else spends the account too. For
        ``contended_s`` the pacer then stops counting on the refill since a header's
        call went out (``TokenBucket.sync``'s ``as_of``): the others may have spent it.
        Several workers on one account each see the whole refill in the headers; each
        counting all of it as its own, three workers on a 3000 RPM account holding a
        minute got 429s for 28 % of their requests, 3 % in this mode.
        """
        reservation._refused = True
        if not rate_limited or reservation._blind:
            return
        now = self._clock.now()
        if any(now - b.changed_at < _CHANGE_GRACE_S for b in self._buckets.values()):
            return
        self._contended_until = now + self._contended_s

    @property
    def contended(self) -> bool:
        """A 429 that says someone else spends the account came within ``contended_s``."""
        return self._clock.now() < self._contended_until

    def stale(self, reservation: Reservation) -> bool:
        """Reserved blind, not yet sent, and the first answer has come: reserve again
        against what it said. (Three workers' blind calls queued behind their first 429
        went out anyway: a 429 each, a fifth of the ramp.)"""
        return reservation._blind and reservation.sent_at is None and self._ramp.informed

    def mark_sent(self, reservation: Reservation) -> None:
        """The call of ``reservation`` goes out now (its headers will describe the
        buckets as of this moment; see ``TokenBucket.sync``'s ``as_of``)."""
        now = self._clock.now()
        reservation.sent_at = now
        self._sent.append((now, reservation))
        if len(self._sent) >= self._forget_at:
            self._forget_sends(now)

    def _forget_sends(self, now: float) -> None:
        """Drop the send times no header can still ask about. A header is read while its
        own call is outstanding and asks about sends after that call (``_not_counted``)
        and at most the share's memory before it (``_sent_between``). Run when the deque
        has doubled since the last pass, so the per-call cost stays constant; at 1,500
        calls/s a fixed ten minutes held about a million entries."""
        sent, memory = self._sent, self._share.memory_s
        horizon = now - memory
        for sent_at, reservation in sent:
            if not reservation.settled:
                horizon = sent_at - memory
                break
        horizon = max(horizon, now - _SENT_MEMORY_S)
        while sent and sent[0][0] < horizon:
            sent.popleft()
        self._forget_at = max(2 * len(sent), _FORGET_MIN)

    def _not_counted(self, reservation: Reservation | None) -> list[Reservation]:
        """Reservations the server had not counted when it computed the headers that
        ``reservation``'s response carried: every call sent after it (answered or not,
        since answers come back out of order) and every reservation not yet sent.
        Without a send time: every outstanding reservation made after it."""
        if reservation is None or reservation.sent_at is None:
            return [
                r
                for r in self._outstanding.values()
                if reservation is None or r.seq > reservation.seq
            ]
        later = []
        for sent_at, other in reversed(self._sent):
            if other is reservation or sent_at < reservation.sent_at:
                break  # the deque is in send order: ties in time are told apart by it
            if not other._refused:
                later.append(other)
        return later + [r for r in self._outstanding.values() if r.sent_at is None]

    async def reserve(
        self, input_tokens: int, output_tokens: int, priority: Priority = LOWEST
    ) -> Reservation:
        """Waits until every known bucket allows the estimate, then takes it. Waiters take
        turns by priority (lowest first), so an older document's next stage goes ahead."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token estimates must be >= 0")
        amounts = {"requests": 1.0, "input-tokens": input_tokens, "output-tokens": output_tokens}
        self._ramp.begin()
        async with self._turn(priority):
            try:
                while True:
                    changed = self._changed
                    if self._ramp.holds(len(self._outstanding), self._share.hint):
                        self._blocked_on = "first answer"
                        # the first answer, a blind call settled, or the allowance grew
                        grows = self._ramp.until_grows(self._share.hint)
                        if math.isinf(grows):
                            await changed.wait()
                        else:
                            await sleep_or_event(self._clock, grows, changed)
                        continue
                    waits = {k: self._wait_for(k, float(a)) for k, a in amounts.items()}
                    waits["requests"] = max(
                        waits["requests"], self._next_release - self._clock.now()
                    )
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
            self._spread()
            reservation = Reservation(next(self._seq), input_tokens, output_tokens)
            reservation._blind = self.ramping
            self._outstanding[reservation.seq] = reservation
            return reservation

    def reconcile(self, reservation: Reservation, input_tokens: int, output_tokens: int) -> None:
        """Correct the estimate with the call's real usage (refund or extra debit).

        If this call's own headers were passed to ``observe_headers`` the buckets are
        left as synced: the server's numbers already count this call (at worst with its
        estimate, which the next header corrects), so a refund here could count twice.
        """
        self._settle(reservation)
        self._ramp.informed = True
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

    def _spread(self) -> None:
        """While the account is shared (a share below 1), calls go out at most at
        ``spread_rate`` times our share of the refill, or faster when the bucket holds
        more (all of it within ``spread_s``), never as one burst. Three workers that
        each spent their part of a full bucket in the same instant got their answers
        back in one clump, each read the others' spend in it wrongly by a request or
        two at once, and collided: a 429 (and a second of retry-after) every two seconds
        of a 10 s job. Spent this fast from a full bucket, no refill is lost."""
        bucket = self._buckets.get("requests")
        if bucket is None or bucket.share >= 1.0:
            return
        rate = max(
            self._spread_rate * bucket.share * bucket.refill_per_s, bucket.level / self._spread_s
        )
        self._next_release = max(self._clock.now(), self._next_release) + 1.0 / rate

    def _margin(self, kind: str, bucket: TokenBucket) -> float:
        if kind != "requests":
            return self._token_margin * bucket.capacity
        # the refill we count during a late admission is our share of it
        return self._request_margin + self._send_skew_s * bucket.share * bucket.refill_per_s

    def _wait_for(self, kind: str, amount: float) -> float:
        bucket = self._buckets.get(kind)
        if bucket is None:
            return 0.0
        return bucket.time_until(amount + self._margin(kind, bucket))

    def _sync(
        self,
        kind: str,
        limit: int,
        level: float,
        full_at: float | None,
        remaining: int,
        as_of: float | None,
        share: float = 1.0,
        spent: Sequence[tuple[float, float]] = (),
    ) -> None:
        refill = limit / self._window
        bucket = self._buckets.get(kind)
        if bucket is None:
            bucket = self._buckets[kind] = TokenBucket(limit, refill, self._clock)
        bucket.sync(
            capacity=limit,
            refill_per_s=refill,
            level=level,
            full_at=full_at,
            remaining=remaining,
            as_of=as_of,
            share=share,
            spent=spent if as_of is not None else (),
        )

    def _full_at(self, reset: str | None) -> float | None:
        """The reset time as a clock time; None if absent, unreadable or not in the future."""
        when = parse_rfc3339(reset)
        if when is None:
            return None
        ahead = when - self._wall()
        return self._clock.now() + ahead if ahead > 0 else None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
