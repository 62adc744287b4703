"""How much of an account's refill is this worker's: others' spend read from the headers.

Split from ``pacing`` so each module keeps to one job. Several workers on one account
each see the whole refill in the ``remaining`` headers; each counting all of it as its
own, three workers got 429s for a fifth of their requests. Between two answers a lone
worker's ``remaining`` is fully explained by the previous one, the refill since then and
the calls this worker sent in between. When it falls short by more than a few requests,
someone else spent the difference: ``RefillShare`` keeps an average of that shortfall
rate and the pacer counts only the rest of the refill (and of what remains) as its own.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["HeaderPoint", "RefillShare"]


@dataclass(frozen=True)
class HeaderPoint:
    """The requests bucket as one answer's headers described it, as of its call's send."""

    sent_at: float
    remaining: float
    limit: float


class RefillShare:
    """This worker's share of the requests bucket's refill, from header pairs.

    Each header is compared with the newest earlier one whose call went out at least
    ``min_span_s`` before it, so the send-time jitter (the server admits a call a little
    after we send it) stays small against the refill between them; answers come back out
    of order, so headers are kept by send time for ``memory_s``. Both rates (ours and
    the others') are averaged the same way, with time constant ``time_constant_s`` of
    send time (and at least ``min_weight`` per answer), so their ratio is right from the
    first comparison; a peer that finishes hands its share back within a few seconds.
    Others spending under ``alone_fraction`` of the refill is noise (a lone worker's
    shortfall stays within a few requests): the whole refill is ours. Within
    ``tolerance`` of the ceiling the bucket is full and hides what others spend; at
    least ``floor`` of the refill stays ours.
    """

    def __init__(
        self,
        *,
        min_span_s: float = 1.0,
        admission_skew_s: float = 0.1,
        memory_s: float = 3.0,
        tolerance: float = 4.0,
        alone_fraction: float = 0.1,
        time_constant_s: float = 3.0,
        min_weight: float = 0.02,
        floor: float = 0.2,
        hint: float = 1.0,
        active: float = 0.9,
    ) -> None:
        self._min_span = min_span_s
        self._skew = admission_skew_s
        self._memory = memory_s
        self._tolerance = tolerance
        self._alone = alone_fraction
        self._time_constant = time_constant_s
        self._min_weight = min_weight
        self._floor = floor
        self.hint = hint
        self.known = False  # the hint counts every spender (``HeadroomPacer.set_share``)
        self._active = active
        self._points: list[HeaderPoint] = []  # by send time
        self._others = 0.0  # requests per second others spend, averaged
        self._own = 0.0  # requests per second we spent, over the same spans
        self._weight = 0.0  # what the averages have taken in (they start at 0)
        self._newest = -math.inf  # send time of the newest header compared

    @property
    def others_per_s(self) -> float:
        """The others' spend rate (the averages' start at 0 corrected for)."""
        return self._others / self._weight if self._weight > 0 else 0.0

    def share(self, refill_per_s: float) -> float:
        """The fraction of the refill (and of what remains) counted as this worker's."""
        if self._weight <= 0 or self.known:
            return self.hint  # no evidence yet, or the group's backlogs told it
        others = self.others_per_s
        band = self._alone * refill_per_s  # what a lone worker's shortfall stays within
        expected = (1.0 - self.hint) * refill_per_s  # the rest of the group at its share
        if others > expected + band:
            # Others spend more than the hint leaves: our part of what all were seen to
            # spend, not the refill less the others' spend (with three workers that rule
            # over-corrects: each one's step is twice the others' error).
            own = self._own / self._weight
            return min(self.hint, max(self._floor, own / (own + others)))
        if others < expected - band:
            # Some of the group spend less than their share (drained partitions): the
            # refill they leave is ours, less the noise band; taken as the evidence
            # grows (``_weight``): the first comparisons of a job saw the others held
            # by their ramp's 429s just before they burst.
            leftover = min(1.0, 1.0 - (others + band) / refill_per_s)
            return self.hint + self._weight * max(leftover - self.hint, 0.0)
        # Within the noise of the hint: the hint. A measured share would wander (any
        # split the group keeps to explains itself) and the bursts of three workers
        # whose shares summed above 1 were the 429s of the multi-worker job.
        return self.hint

    def forget(self) -> None:
        """The limit changed: earlier headers say nothing about the new bucket."""
        self._points.clear()

    @property
    def memory_s(self) -> float:
        """How far before a header's own call its reference header may lie."""
        return self._memory

    def observe(
        self,
        point: HeaderPoint,
        sent_between: Callable[[float, float], Sequence[float]],
        refill_per_s: float,
        ceiling: float,
    ) -> None:
        """Compare ``point`` with an earlier header. ``sent_between(after, until)``: send
        times of this worker's calls (not known refused) in (after, until], which includes
        the call ``point`` answered; ``ceiling``: what the bucket holds when full."""
        self._points = [p for p in self._points if p.limit == point.limit]
        bisect.insort(self._points, point, key=lambda p: p.sent_at)
        horizon = max(self._newest, point.sent_at) - self._memory
        while self._points and self._points[0].sent_at < horizon:
            self._points.pop(0)
        ref = self._reference_for(point)
        if ref is not None:
            self._compare(ref, point, sent_between, refill_per_s, ceiling)
        # An old call answered late (after a 429 of a later one came back at once) is
        # the reference the later headers lacked: the ramp's first evidence.
        for later in [p for p in self._points if p.sent_at >= point.sent_at + self._min_span]:
            if self._reference_for(later) is point:
                self._compare(point, later, sent_between, refill_per_s, ceiling)

    def _compare(
        self,
        ref: HeaderPoint,
        point: HeaderPoint,
        sent_between: Callable[[float, float], Sequence[float]],
        refill_per_s: float,
        ceiling: float,
    ) -> None:
        span = point.sent_at - ref.sent_at
        ours = sent_between(ref.sent_at, point.sent_at)
        expected, admitted = _lone_level(ref, ours, point.sent_at, refill_per_s, ceiling)
        others = (expected - point.remaining) / span
        group = (1.0 - self.hint) * refill_per_s  # the rest of the group at its share
        if others > group:
            # The server admits a call up to ~0.1 s after we mark it sent (more in a
            # burst, queued in the client): a reference admitted later than its point,
            # relative to their send times, reads as that much refill spent by others.
            # A lone worker's share fell to 0.66-0.93 in the first seconds of a job.
            others = max(group, others - refill_per_s * self._skew / span)
        if point.remaining >= ceiling - self._tolerance:
            others = min(others, group)  # a full bucket hides what others spend
        if others < group and admitted < self._active * self.hint * refill_per_s * span:
            # We held back too (a retry-after, a drained backlog): the others' quiet says
            # nothing about their share. Three workers held together by their ramp's
            # 429s each took the others' part as its own when they resumed.
            others = group
        step = point.sent_at - self._newest if math.isfinite(self._newest) else 0.0
        # Answers to calls sent close together (a ramp) each count for a little.
        weight = max(1.0 - math.exp(-max(step, 0.0) / self._time_constant), self._min_weight)
        self._weight += (1.0 - self._weight) * weight
        self._own += (admitted / span - self._own) * weight
        self._others += (others - self._others) * weight
        self._newest = max(self._newest, point.sent_at)

    def _reference_for(self, point: HeaderPoint) -> HeaderPoint | None:
        latest = point.sent_at - self._min_span
        found = None
        for candidate in self._points:
            if candidate.sent_at > latest:
                break
            found = candidate
        return found


def _lone_level(
    ref: HeaderPoint, ours: Iterable[float], until: float, refill: float, ceiling: float
) -> tuple[float, int]:
    """What ``remaining`` would be at ``until`` if only this worker spent the bucket: the
    refill, capped at the ceiling, less each of our calls (one the bucket had no room
    for was refused, not counted), and how many of our calls it admitted."""
    level, at, admitted = ref.remaining, ref.sent_at, 0
    for sent in ours:
        level = min(ceiling, level + (sent - at) * refill)
        at = sent
        if level >= 1.0:
            level -= 1.0
            admitted += 1
    return min(ceiling, level + (until - at) * refill), admitted
