"""``TokenLatencyLimit``: a gradient limit (Gradient2 / Envoy) on latency per output token.

A long answer is not mistaken for congestion: each sample's latency is its time to first
token, or its round trip per output token, or (neither known) its raw round trip. Unlike
Gradient2 it cuts on drops, once per window of calls, as ``AIMDLimit`` does
(``stream.concurrency.limit`` says why).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from stream.concurrency.limit import EPSILON, check_bounds, learned_cap

__all__ = ["TokenLatencyLimit"]

_CONGESTED_LEARNING = 0.1  # how fast a too-slow window moves the latency baseline


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
        check_bounds(initial, min_limit, max_limit, backoff_ratio)
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
        return int(self._value + EPSILON)

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
                    self._set(learned_cap(before, self._initial, self._ratio, inflight))
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
