"""Limit algorithms: samples in, a new concurrency limit out (Netflix concurrency-limits).

A ``Limit`` is pure and synchronous. It never reads a clock: the limiter passes ``now``
and the round-trip time of each finished call, the number of calls in flight when that
call started, whether it was dropped (429, 529, timeout) and, for successes, how many
output tokens it produced and its time to first token. That keeps every algorithm
testable with literal numbers.

- ``FixedLimit``: a constant.
- ``AIMDLimit``: loss-based. A drop multiplies the limit by ``backoff_ratio``; a call
  that used at least half the window adds to it. Optionally a 529 instead holds the
  limit just under the concurrency cap it reveals (``cap_hold``).
- ``TokenLatencyLimit`` (``token_latency``): a gradient limit (Gradient2 / Envoy) on
  latency per output token, so a long answer is not mistaken for congestion, and
  unlike Gradient2 it cuts on drops.

Both adaptive limits cut at most once per "window of calls": a drop (or timeout) of a
call that *started before* the last cut does not cut again. A 429 burst answers one
overload moment; without this rule fifty 429s would compound to 0.9**50 of the limit
(TCP makes the same rule: one reduction per window of data).

With ``learn_cap=True`` (as the registry builds them) the *first* drop ever cuts to the
calls in flight before the refused one (``inflight - 1``), however high the limit was:
a server that refuses the 65th concurrent call has just said its cap is 64, which a
ramp that outran the first refusal would otherwise take several cuts to learn (and a
ratio cut of a limit just above the cap would undershoot it). Never below the ordinary
cut of the initial limit: a lone call refused (a 529 is also the API's global overload)
says nothing about a cap.

``raise_to(n)`` lifts an adaptive limit to at least ``n`` at once, for what the server
has said directly: the budget its rate-limit headers advertise, or the calls a blind
ramp let out before the first answer (``Caller`` and ``HeadroomPacer``). Growth from
samples alone would creep up to it one round trip at a time.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from stream.concurrency.cap_hold import CapHold, HoldVerdict

__all__ = ["AIMDLimit", "FixedLimit", "Limit"]

EPSILON = 1e-9  # nine additions of 1/9 must make a whole 1


@runtime_checkable
class Limit(Protocol):
    """How many calls may be in flight; updated from one sample per finished call."""

    @property
    def limit(self) -> int: ...

    @property
    def floor(self) -> int:
        """The lowest limit a drop can cut to; a limit at its floor cannot cut."""
        ...

    def on_sample(
        self,
        *,
        now: float,
        rtt: float,
        inflight: int,
        dropped: bool,
        output_tokens: int | None = None,
        ttft: float | None = None,
        overloaded: bool = False,
    ) -> int:
        """Feed one finished call; returns the (possibly new) limit. ``overloaded``
        qualifies a drop: the server refused the call for capacity (a 529), so it admits
        at most the other calls that were in flight."""
        ...

    def raise_to(self, n: int) -> int:
        """The server has room for ``n`` calls in flight: grow to at least ``n`` (within
        bounds; a fixed limit stays); returns the limit."""
        ...

    def on_idle(self) -> int:
        """Nothing is in flight or waiting; returns the (possibly new) limit."""
        ...


class FixedLimit:
    """A limit that never changes, for comparisons and for a hand-tuned deployment."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"a limit must be >= 1 (got {n})")
        self._n = n

    @property
    def limit(self) -> int:
        return self._n

    @property
    def floor(self) -> int:
        return self._n

    def on_sample(
        self,
        *,
        now: float,
        rtt: float,
        inflight: int,
        dropped: bool,
        output_tokens: int | None = None,
        ttft: float | None = None,
        overloaded: bool = False,
    ) -> int:
        del now, rtt, inflight, dropped, output_tokens, ttft, overloaded
        return self._n

    def raise_to(self, n: int) -> int:
        del n
        return self._n

    def on_idle(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"FixedLimit({self._n})"


def check_bounds(initial: int, min_limit: int, max_limit: int, backoff_ratio: float) -> None:
    if not 1 <= min_limit <= initial <= max_limit:
        raise ValueError(
            f"need 1 <= min_limit <= initial <= max_limit (got {min_limit}, {initial}, {max_limit})"
        )
    if not 0.0 < backoff_ratio < 1.0:
        raise ValueError(f"backoff_ratio must be in (0, 1) (got {backoff_ratio})")


class AIMDLimit:
    """Additive increase, multiplicative decrease, with slow start.

    Per sample, as in Netflix ``AIMDLimit``::

        if dropped or rtt > timeout:  L = floor(L * backoff_ratio)     (once per window)
        elif inflight * 2 >= L:       L = L + increase
        L = clamp(L, min_limit, max_limit)

    ``increase`` is 1 per sample in *slow start* (Netflix's rule; it doubles the limit
    every round trip when the window is full) and ``1 / L`` per sample in *congestion
    avoidance* (one per round trip, TCP Reno). The limit starts in slow start, switches
    to congestion avoidance at a drop, and returns to slow start after ``probe_after_s``
    seconds without a drop (``slow_start=False`` starts in congestion avoidance;
    ``probe_after_s=None`` never returns). Growing by one per *sample* right after a
    drop overshoots a server cap every few calls (each overshoot is a 529); growing by
    one per *round trip* keeps overshoots to about one per recovery, while the return to
    slow start keeps recovery after a long quiet period fast.

    ``timeout`` defaults to infinity: a Claude call's time mostly tracks its answer's
    length, so raw RTT is not a congestion signal here. Callers report their own
    deadline expiries as drops.

    With ``cap_probe_rounds`` (as the registry builds it), a 529 (``overloaded``) that
    a probe of ours explains is not cut by the ratio: the limit holds at the calls that
    were in flight beside the refused one, probes one above that every
    ``cap_probe_rounds`` round trips at full use, and returns to slow start when a call
    above it succeeds (``cap_hold``). 429s and timeouts still cut by the ratio.
    """

    def __init__(
        self,
        initial: int = 20,
        min_limit: int = 1,
        max_limit: int = 200,
        backoff_ratio: float = 0.9,
        timeout: float = math.inf,
        *,
        slow_start: bool = True,
        probe_after_s: float | None = 10.0,
        learn_cap: bool = False,
        cap_probe_rounds: int | None = None,
    ) -> None:
        check_bounds(initial, min_limit, max_limit, backoff_ratio)
        self._learn_cap = learn_cap
        self._hold = None if cap_probe_rounds is None else CapHold(cap_probe_rounds)
        self._initial = initial
        self._value = float(initial)
        self._min = min_limit
        self._max = max_limit
        self._ratio = backoff_ratio
        self._timeout = timeout
        self._slow_start = slow_start
        self._probe_after_s = probe_after_s
        self._last_cut = -math.inf
        self._avoiding_since: float | None = None  # start of congestion avoidance

    @property
    def limit(self) -> int:
        return int(self._value + EPSILON)

    @property
    def floor(self) -> int:
        return self._min

    @property
    def in_slow_start(self) -> bool:
        return self._slow_start

    def on_sample(
        self,
        *,
        now: float,
        rtt: float,
        inflight: int,
        dropped: bool,
        output_tokens: int | None = None,
        ttft: float | None = None,
        overloaded: bool = False,
    ) -> int:
        del output_tokens, ttft
        if dropped or rtt > self._timeout:
            if now - rtt >= self._last_cut:
                if overloaded and dropped and self._hold is not None:
                    self._hold_under_cap(inflight)
                else:
                    self._cut(inflight)
                self._last_cut = now
                self._slow_start = False
                self._avoiding_since = now
            return self.limit
        if self._hold is not None:
            verdict = self._hold.on_success(
                self.limit, inflight, after_cut=now - rtt >= self._last_cut
            )
            if verdict is HoldVerdict.ROOM:  # search from here, as before the first drop
                self._slow_start, self._avoiding_since = True, None
            elif verdict is not None:
                if verdict is HoldVerdict.PROBE:
                    self._value = min(float(self._max), self._value + 1.0)
                return self.limit
        if not self._slow_start:
            if self._avoiding_since is None:
                self._avoiding_since = now
            elif self._probe_after_s is not None:
                self._slow_start = now - self._avoiding_since >= self._probe_after_s
        if inflight * 2 >= self.limit:
            step = 1.0 if self._slow_start else 1.0 / max(self.limit, 1)
            self._value = min(float(self._max), self._value + step)
        return self.limit

    def _cut(self, inflight: int) -> None:
        """A multiplicative cut (and, with ``learn_cap``, the first drop's rule)."""
        if self._hold is not None:
            self._hold.release()
        before = self.limit
        self._value = max(self._min, math.floor(before * self._ratio + EPSILON))
        if self._learn_cap and self._last_cut == -math.inf:  # the first drop
            learned = learned_cap(before, self._initial, self._ratio, inflight)
            self._value = max(float(self._min), learned)

    def _hold_under_cap(self, inflight: int) -> None:
        """A 529: hold at the calls in flight beside the refused one (``cap_hold``)."""
        assert self._hold is not None
        before = self.limit
        guard = math.floor(before * self._ratio + EPSILON)
        if self._last_cut == -math.inf:  # the first drop: the ramp may have outrun the cap
            guard = min(guard, math.floor(self._initial * self._ratio + EPSILON))
        self._value = float(max(self._min, self._hold.cut(before, inflight, guard)))
        self._hold.hold_at(self.limit)

    def raise_to(self, n: int) -> int:
        self._value = max(self._value, float(min(n, self._max)))
        return self.limit

    @property
    def held(self) -> int | None:
        """The level held under a 529 cap (``cap_hold``); None while not holding."""
        return None if self._hold is None else self._hold.held

    def share_hold(self, level: int, now: float) -> int:
        """Hold ``level``, this worker's part of a cap the group shares (``cap_share``).
        Lower counts as a cut: calls granted before it above the new level are not room."""
        if self._hold is None or self._hold.held is None:
            return self.limit
        level = max(self._min, min(level, self._max))
        if level < self.limit:
            self._last_cut = now
        self._hold.rebase(level)
        self._value = float(level)
        return self.limit

    def on_idle(self) -> int:
        """Back to the cap last learned from a 529, if the limit grew above it since
        (``cap_hold``'s idle rule); held there, as after that 529."""
        if self._hold is not None and (level := self._hold.idle(self.limit)) < self.limit:
            self._value = float(level)
            self._slow_start = False
        return self.limit

    def __repr__(self) -> str:
        return f"AIMDLimit(limit={self.limit}, slow_start={self._slow_start})"


def learned_cap(before: int, initial: int, ratio: float, inflight: int) -> float:
    """After the first drop: the calls that were in flight before the refused one, but
    never above the limit ``before`` the drop nor below the ordinary cut of ``initial``."""
    return float(min(before, max(inflight - 1, math.floor(initial * ratio + EPSILON))))
