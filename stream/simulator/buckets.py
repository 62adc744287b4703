"""Rate limits as the Messages API enforces them: continuously refilled token buckets.

One bucket each for requests (RPM), input tokens (ITPM) and output tokens (OTPM). A
bucket refills at limit/60 per second and by default holds at most its per-minute limit,
so a burst of a full minute's allowance is possible and then the steady rate applies.
The real API may enforce a per-minute limit over shorter intervals (60 RPM as one
request per second), so ``bucket_s`` sets how many seconds of allowance a bucket holds
(``bucket_s=1``: a 3000 RPM bucket holds 50 requests). Headers always advertise the
per-minute limit; ``remaining`` and ``reset`` follow the (smaller) bucket. As on
the real API, output tokens are *reserved* at ``max_tokens`` when a request starts and
corrected to the actual output when it ends (``settle``), so a large ``max_tokens``
throttles early. Time comes from an injected ``now()`` so tests check refill exactly.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

__all__ = ["Admission", "RateLimiter", "TokenBucket"]

Clock = Callable[[], float]


class TokenBucket:
    """A bucket refilled at ``per_minute / 60`` per second, holding ``bucket_s`` seconds
    of that (a whole minute by default)."""

    __slots__ = ("_now", "bucket_s", "capacity", "level", "per_minute", "rate", "updated")

    def __init__(self, per_minute: float, now: Clock, bucket_s: float = 60.0) -> None:
        if not 0 < bucket_s <= 60:
            raise ValueError(f"bucket_s must be within (0, 60], got {bucket_s}")
        self._now = now
        self.bucket_s = bucket_s
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.capacity = max(1.0, self.per_minute * bucket_s / 60.0)
        self.level = self.capacity
        self.updated = now()

    def _refill(self) -> None:
        self.refill(self._now())

    def refill(self, t: float) -> None:
        """Bring the level up to time ``t`` (the limiter reads the clock once per request)."""
        if t > self.updated:
            level = self.level + (t - self.updated) * self.rate
            self.level = level if level < self.capacity else self.capacity
            self.updated = t

    def available(self) -> float:
        """Tokens in the bucket now (may be fractional)."""
        self._refill()
        return self.level

    def need(self, amount: float) -> float:
        """What a request of ``amount`` must find: a request larger than the whole
        bucket waits for a full bucket instead of being refused forever."""
        return min(float(amount), self.capacity)

    def wait_s(self, amount: float) -> float:
        """Seconds until the bucket holds ``need(amount)``; 0.0 when it does now."""
        missing = self.need(amount) - self.available()
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, amount: float) -> None:
        """Remove ``need(amount)`` (call after ``wait_s`` returned 0)."""
        self._refill()
        self.level -= self.need(amount)

    def give(self, amount: float) -> None:
        """Return tokens (an over-reservation), never beyond capacity."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)

    def full_in_s(self) -> float:
        """Seconds until the bucket is full again (the ``-reset`` header)."""
        return (self.capacity - self.available()) / self.rate

    def set_limit(self, per_minute: float) -> None:
        """Change the limit live: the rate follows, the level is clipped to the new cap."""
        self._refill()
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.capacity = max(1.0, self.per_minute * self.bucket_s / 60.0)
        self.level = min(self.level, self.capacity)


class Admission:
    """The answer to one request: admitted, or refused with a retry-after and a reason."""

    __slots__ = ("limit", "reason", "retry_after_s")

    def __init__(self, retry_after_s: float = 0.0, reason: str = "", limit: int = 0) -> None:
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.limit = limit

    @property
    def admitted(self) -> bool:
        return self.retry_after_s <= 0.0

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up: retrying earlier would fail again."""
        return str(max(1, math.ceil(self.retry_after_s - 1e-9)))


_ADMITTED = Admission()
_UNITS = {"requests": "requests", "input-tokens": "input tokens", "output-tokens": "output tokens"}


class RateLimiter:
    """The three buckets of one account, plus the ``anthropic-ratelimit-*`` headers."""

    def __init__(
        self,
        rpm: int | None,
        itpm: int | None,
        otpm: int | None,
        now: Clock = time.monotonic,
        wall: Clock = time.time,
        bucket_s: float = 60.0,
    ) -> None:
        self._now = now
        self._wall = wall
        self._bucket_s = bucket_s
        self.buckets: dict[str, TokenBucket | None] = {}
        self.set_limits(rpm=rpm, itpm=itpm, otpm=otpm)

    def set_limits(self, **limits: int | None) -> None:
        """Set any of rpm/itpm/otpm live; ``None`` removes that limit."""
        for key, value in limits.items():
            name = {"rpm": "requests", "itpm": "input-tokens", "otpm": "output-tokens"}[key]
            bucket = self.buckets.get(name)
            if value is None:
                self.buckets[name] = None
            elif bucket is None:
                self.buckets[name] = TokenBucket(value, self._now, self._bucket_s)
            else:
                bucket.set_limit(value)

    def refill_all(self) -> None:
        """Fill every bucket (an admin reset)."""
        for bucket in self.buckets.values():
            if bucket is not None:
                bucket.level = bucket.capacity

    def admit(self, input_tokens: int, max_tokens: int) -> Admission:
        """Reserve 1 request, the input tokens and ``max_tokens`` output tokens, or
        refuse with the time until every bucket holds enough (nothing is taken then)."""
        t = self._now()
        wants = (("requests", 1), ("input-tokens", input_tokens), ("output-tokens", max_tokens))
        worst = _ADMITTED
        for name, amount in wants:
            bucket = self.buckets[name]
            if bucket is not None:
                bucket.refill(t)
                missing = bucket.need(amount) - bucket.level
                if missing > 0 and missing / bucket.rate > worst.retry_after_s:
                    worst = Admission(missing / bucket.rate, _UNITS[name], int(bucket.per_minute))
        if not worst.admitted:
            return worst
        for name, amount in wants:
            bucket = self.buckets[name]
            if bucket is not None:
                bucket.level -= bucket.need(amount)
        return _ADMITTED

    def settle(self, reserved_output: int, actual_output: int) -> None:
        """Give back the output tokens reserved but not produced."""
        bucket = self.buckets["output-tokens"]
        if bucket is not None and reserved_output > actual_output:
            reserved = bucket.need(reserved_output)
            bucket.give(max(0.0, reserved - actual_output))

    def limits(self) -> dict[str, int | None]:
        """Current per-minute limits by config name."""
        names = {"rpm": "requests", "itpm": "input-tokens", "otpm": "output-tokens"}
        out: dict[str, int | None] = {}
        for key, name in names.items():
            bucket = self.buckets[name]
            out[key] = None if bucket is None else int(bucket.per_minute)
        return out

    def headers(self) -> str:
        """``anthropic-ratelimit-*`` header lines (CRLF-terminated) for configured limits.

        ``-tokens-*`` repeats whichever token bucket is closest to empty (the most
        restrictive limit in effect). Resets are RFC 3339 times when the bucket is full.
        """
        lines: list[str] = []
        t, wall = self._now(), self._wall()
        tightest: tuple[float, str] | None = None
        for name, bucket in self.buckets.items():
            if bucket is None:
                continue
            bucket.refill(t)
            block = _header_block(name, bucket, wall)
            lines.append(block)
            if name != "requests":
                share = bucket.level / bucket.capacity
                if tightest is None or share < tightest[0]:
                    tightest = (share, block.replace(f"-{name}-", "-tokens-"))
        if tightest is not None:
            lines.append(tightest[1])
        return "".join(lines)


def _header_block(name: str, bucket: TokenBucket, wall: float) -> str:
    """The three lines for one (freshly refilled) bucket."""
    level = bucket.level
    remaining = max(0, math.floor(level))
    reset = _rfc3339(math.ceil(wall + (bucket.capacity - level) / bucket.rate))
    prefix = f"anthropic-ratelimit-{name}-"
    return (
        f"{prefix}limit: {int(bucket.per_minute)}\r\n"
        f"{prefix}remaining: {remaining}\r\n"
        f"{prefix}reset: {reset}\r\n"
    )


@functools.lru_cache(maxsize=512)
def _rfc3339(epoch_s: int) -> str:
    """RFC 3339 UTC time for a whole second (cached: many responses share a reset second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
