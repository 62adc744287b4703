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
- ``TokenLatencyLimit``: a gradient limit (Gradient2 / Envoy) on latency per output
  token, so a long answer is not mistaken for congestion, and unlike Gradient2 it cuts
  on drops.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stream.concurrency.cap_hold import CapHold, HoldVerdict

__all__ = ["AIMDLimit", "FixedLimit", "Limit", "TokenLatencyLimit"]

_EPSILON = 1e-9  # nine additions of 1/9 must make a whole 1
_CONGESTED_LEARNING = 0.1  # how fast a too-slow window moves the latency baseline


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


def _check_bounds(initial: int, min_limit: int, max_limit: int, backoff_ratio: float) -> None:
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
        _check_bounds(initial, min_limit, max_limit, backoff_ratio)
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
        return int(self._value + _EPSILON)

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
        self._value = max(self._min, math.floor(before * self._ratio + _EPSILON))
        if self._learn_cap and self._last_cut == -math.inf:  # the first drop
            learned = _learned_cap(before, self._initial, self._ratio, inflight)
            self._value = max(float(self._min), learned)

    def _hold_under_cap(self, inflight: int) -> None:
        """A 529: hold at the calls in flight beside the refused one (``cap_hold``)."""
        assert self._hold is not None
        before = self.limit
        guard = math.floor(before * self._ratio + _EPSILON)
        if self._last_cut == -math.inf:  # the first drop: the ramp may have outrun the cap
            guard = min(guard, math.floor(self._initial * self._ratio + _EPSILON))
        self._value = float(max(self._min, self._hold.cut(before, inflight, guard)))
        self._hold.hold_at(self.limit)

    def raise_to(self, n: int) -> int:
        self._value = max(self._value, float(min(n, self._max)))
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


@dataclass(slots=True)
class _Signal:
    """Latency of one kind (ttft, per output token, or raw RTT): window sums and baseline."""

    num: float = 0.0
    den: float = 0.0
    baseline: float | None = None
    windows: int = 0

    def add(self, num: float, den: float) -> None:
        self.num += num
        self.den += den

    def close(self, *, warmup: int, ema: float, tolerance: float) -> float | None:
        """Ends the window: returns its gradient (None without samples), folds it in."""
        if self.den <= 0 or self.num <= 0:
            self.num = self.den = 0.0
            return None
        current = self.num / self.den
        self.num = self.den = 0.0
        if not (math.isfinite(current) and current > 0.0):
            # A denormal latency sum over a large token count underflows to 0.0 (and a
            # huge one overflows): such a window says nothing about congestion.
            return None
        base = current if self.baseline is None else self.baseline
        gradient = min(1.0, max(0.5, tolerance * base / current))
        self.windows += 1
        if self.baseline is None:
            self.baseline = current
        elif self.windows <= warmup:
            self.baseline += (current - self.baseline) / self.windows
        else:
            rate = ema if gradient >= 1.0 else ema * _CONGESTED_LEARNING
            self.baseline += (current - self.baseline) * rate
        if self.baseline / current > 2.0:
            self.baseline *= 0.95  # overload has ended: let the baseline come down quickly
        return gradient


@dataclass(slots=True)
class _Window:
    started: float | None = None
    samples: int = 0
    max_inflight: int = 0


class TokenLatencyLimit:
    """A gradient limit on latency normalised per output token.

    Each successful sample contributes one latency signal: its time to first token when
    given, else ``rtt / max(output_tokens, 1)``, else (no usage at all) its raw RTT. The
    three are kept apart. Samples are grouped into windows (at least ``window_s``
    seconds and ``window_min_samples`` samples, Netflix ``WindowedLimit``'s defaults); a
    window's latency is sum(rtt) / sum(tokens), which a mix of short and long answers
    does not skew. At the end of a window, per signal::

        gradient = clamp(tolerance * baseline / current, 0.5, 1.0)
        new      = L * gradient + queue_size(L)                  (queue_size = sqrt)
        if new < L or a drop cut the limit < probe_after_s ago:
                   new = L * (1 - smoothing) + new * smoothing
        if max inflight in the window * 2 < L: new = min(new, L) (app-limited: no growth)

    using the smallest gradient of the signals seen. Decreases are always smoothed;
    increases only shortly after a drop, so a server that answers overload with 529s
    (not with latency) is probed by about ``smoothing * sqrt(L)`` a window instead of
    ``sqrt(L)``, which would overshoot it every window.

    The baseline is an average over the first ``warmup_windows`` windows, then an
    exponential average over ``long_window`` windows. Windows slower than tolerated
    (gradient < 1) move it ten times more slowly: our own queueing would otherwise
    creep into the baseline and let the limit drift up (Gradient2's known weakness),
    while a server that has become slower for everyone is still accepted, only later.
    When the baseline is more than twice the current latency (an overload has ended) it
    also decays by 5% a window, as in Gradient2. A drop cuts at once to
    ``L * backoff_ratio`` (once per window of calls, see the module docstring).

    If answers get longer while the per-token time stays put, the gradient stays 1 and
    the limit does not shrink: a long answer is not congestion.
    """

    def __init__(
        self,
        initial: int = 20,
        min_limit: int = 1,
        max_limit: int = 200,
        *,
        tolerance: float = 1.5,
        backoff_ratio: float = 0.9,
        smoothing: float = 0.2,
        window_s: float = 1.0,
        window_min_samples: int = 10,
        long_window: int = 100,
        warmup_windows: int = 5,
        queue_size: Callable[[float], float] = math.sqrt,
        probe_after_s: float = 10.0,
        learn_cap: bool = False,
    ) -> None:
        _check_bounds(initial, min_limit, max_limit, backoff_ratio)
        self._learn_cap = learn_cap
        self._initial = initial
        if tolerance < 1.0:
            raise ValueError(f"tolerance must be >= 1 (got {tolerance})")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1] (got {smoothing})")
        if window_min_samples < 1 or long_window < 1 or warmup_windows < 0:
            raise ValueError("window_min_samples and long_window must be >= 1, warmup >= 0")
        self._value = float(initial)
        self._min = min_limit
        self._max = max_limit
        self._tolerance = tolerance
        self._ratio = backoff_ratio
        self._smoothing = smoothing
        self._window_s = window_s
        self._window_min = window_min_samples
        self._ema = 2.0 / (long_window + 1)
        self._warmup = warmup_windows
        self._queue_size = queue_size
        self._probe_after_s = probe_after_s
        self._window = _Window()
        self._signals: dict[str, _Signal] = {}
        self._last_cut = -math.inf

    @property
    def limit(self) -> int:
        return int(self._value + _EPSILON)

    @property
    def floor(self) -> int:
        return self._min

    def baseline(self, signal: str = "per_token") -> float | None:
        """The long-run latency of ``signal`` ("ttft", "per_token" or "rtt"), if known."""
        found = self._signals.get(signal)
        return None if found is None else found.baseline

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
        del overloaded  # a 529 is an ordinary drop here: no cap is held
        if dropped:
            if now - rtt >= self._last_cut:
                before = self.limit
                self._set(self._value * self._ratio)
                if self._learn_cap and self._last_cut == -math.inf:  # the first drop
                    self._set(_learned_cap(before, self._initial, self._ratio, inflight))
                self._last_cut = now
            return self.limit
        window = self._window
        if window.started is None:
            window.started = now
        window.samples += 1
        window.max_inflight = max(window.max_inflight, inflight)
        kind, num, den = _normalise(rtt, output_tokens, ttft)
        self._signals.setdefault(kind, _Signal()).add(num, den)
        if window.samples >= self._window_min and now - window.started >= self._window_s:
            self._close_window(now)
        return self.limit

    def _close_window(self, now: float) -> None:
        window = self._window
        gradients = [
            g
            for s in self._signals.values()
            if (g := s.close(warmup=self._warmup, ema=self._ema, tolerance=self._tolerance))
            is not None
        ]
        if gradients:
            current = self._value
            new = current * min(gradients) + self._queue_size(current)
            if new < current or now - self._last_cut < self._probe_after_s:
                new = current * (1.0 - self._smoothing) + new * self._smoothing
            if window.max_inflight * 2 < self.limit:
                new = min(new, current)
            self._set(new)
        window.started = None
        window.samples = window.max_inflight = 0

    def _set(self, value: float) -> None:
        self._value = min(float(self._max), max(float(self._min), value))

    def raise_to(self, n: int) -> int:
        self._set(max(self._value, float(n)))
        return self.limit

    def on_idle(self) -> int:
        return self.limit

    def __repr__(self) -> str:
        return f"TokenLatencyLimit(limit={self.limit})"


def _learned_cap(before: int, initial: int, ratio: float, inflight: int) -> float:
    """After the first drop: the calls that were in flight before the refused one, but
    never above the limit ``before`` the drop nor below the ordinary cut of ``initial``."""
    return float(min(before, max(inflight - 1, math.floor(initial * ratio + _EPSILON))))


def _normalise(
    rtt: float, output_tokens: int | None, ttft: float | None
) -> tuple[str, float, float]:
    """(signal kind, numerator, denominator) of one sample's latency."""
    if ttft is not None:
        return "ttft", _finite(ttft), 1.0
    if output_tokens is not None:
        return "per_token", _finite(rtt), float(max(output_tokens, 1))
    return "rtt", _finite(rtt), 1.0


def _finite(seconds: float) -> float:
    """A latency as a sum-safe number: NaN, infinities and negatives count as nothing."""
    return seconds if math.isfinite(seconds) and seconds > 0.0 else 0.0
