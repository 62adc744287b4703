"""Retry delays: exponential backoff with full jitter, floored by the server's retry-after.

Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") draws the delay
uniformly from ``[0, min(cap, base * 2**attempt)]``: retrying clients spread out
instead of retrying in lockstep. When the server sent ``retry-after`` the delay is at
least that, plus up to ``retry_after_jitter`` of it, and is honoured above 60 s too
(the SDK's default loop replaces such values with a few seconds and burns attempts).
"""

from __future__ import annotations

import math
import random

__all__ = ["backoff_delay", "retry_after_delay"]

_MAX_EXPONENT = 1000  # 2**1000 * base overflows no float; any cap is reached long before


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: random.Random,
    retry_after: float | None = None,
    retry_after_jitter: float = 0.1,
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0 (got {attempt})")
    if not (base > 0 and cap > 0):
        raise ValueError(f"base and cap must be > 0 (got {base}, {cap})")
    if not 0.0 <= retry_after_jitter <= 1.0:
        raise ValueError(f"retry_after_jitter must be in [0, 1] (got {retry_after_jitter})")
    if retry_after is not None and not math.isfinite(retry_after):
        raise ValueError(f"retry_after must be finite (got {retry_after})")
    ceiling = min(cap, math.ldexp(base, min(attempt, _MAX_EXPONENT)))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, retry_after_delay(retry_after, rng, retry_after_jitter))
    return delay


def retry_after_delay(retry_after: float, rng: random.Random, jitter: float = 0.1) -> float:
    """The server's ``retry-after`` plus up to ``jitter`` of it, so that calls refused
    together do not come back together."""
    return retry_after + rng.uniform(0.0, jitter * retry_after)
