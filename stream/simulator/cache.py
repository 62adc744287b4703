"""The simulator's prompt cache: prefixes keyed by exact content, with TTLs and minimums.

As the Messages API does: a request's ``cache_control`` breakpoints name prefixes (the
exact content up to each mark, per model). The longest prefix already cached is a
*read*; every later breakpoint whose prefix reaches the model's minimum cacheable length
(``stream.caching``) is *written*, the tokens between the previous cached point and the
mark counted at that mark's lifetime (5m or 1h); the rest is plain input. A read
refreshes the entry's lifetime. An entry is readable only once the answer that wrote it
has started (its first byte): requests that arrive together all miss, as on the API.

Lookups are planned before the rate-limit check and committed only when the request is
admitted, so a 429 changes nothing. The clock is the simulator's injected one. Entries
are capped (oldest evicted first) so a long run cannot grow without bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stream.caching import CACHE_TTL_S, min_cacheable_tokens
from stream.caching.rules import Ttl
from stream.simulator.text import Breakpoint, Prompt

__all__ = ["CachePlan", "InputUsage", "PromptCache"]

_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class InputUsage:
    """How a prompt's tokens were billed: plain, read from cache, written (5m / 1h)."""

    input_tokens: int
    cache_read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def cache_creation(self) -> int:
        return self.write_5m + self.write_1h

    @property
    def rate_limited_tokens(self) -> int:
        """What counts against input tokens per minute: everything but cache reads."""
        return self.input_tokens + self.cache_creation


@dataclass(frozen=True, slots=True)
class CachePlan:
    usage: InputUsage
    hit: tuple[str, bytes] | None
    writes: tuple[tuple[tuple[str, bytes], Ttl], ...]  # (entry key, ttl)


@dataclass(slots=True)
class _Entry:
    ready_at: float
    expires_at: float
    ttl: Ttl


class PromptCache:
    """Prefix entries per (model, content digest)."""

    def __init__(self, now: Callable[[], float], max_entries: int = _MAX_ENTRIES) -> None:
        self._now = now
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()
        self._max = max_entries
        self.reads = self.writes = 0  # tokens, for /stats

    def plan(self, model: str, prompt: Prompt) -> CachePlan:
        """Usage of ``prompt`` against the cache now, changing nothing."""
        if not prompt.breakpoints:
            return CachePlan(InputUsage(prompt.input_tokens), None, ())
        now = self._now()
        minimum = min_cacheable_tokens(model)
        hit_at, hit = self._longest_hit(model, prompt.breakpoints, now)
        cached = hit_at
        by_ttl: dict[Ttl, int] = {"5m": 0, "1h": 0}
        writes: list[tuple[tuple[str, bytes], Ttl]] = []
        for mark in prompt.breakpoints:
            if mark.tokens <= cached or mark.tokens < minimum:
                continue
            by_ttl[mark.ttl] += mark.tokens - cached
            cached = mark.tokens
            writes.append(((model, mark.key), mark.ttl))
        usage = InputUsage(
            input_tokens=max(0, prompt.input_tokens - cached),
            cache_read=hit_at,
            write_5m=by_ttl["5m"],
            write_1h=by_ttl["1h"],
        )
        return CachePlan(usage, hit, tuple(writes))

    def commit(self, plan: CachePlan, first_byte_s: float) -> None:
        """The request was admitted: refresh what it read, store what it wrote."""
        now = self._now()
        if plan.hit is not None:
            entry = self._entries[plan.hit]
            entry.expires_at = now + CACHE_TTL_S[entry.ttl]
            self._entries.move_to_end(plan.hit)
        for key, ttl in plan.writes:
            self._entries[key] = _Entry(now + first_byte_s, now + CACHE_TTL_S[ttl], ttl)
            self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        self.reads += plan.usage.cache_read
        self.writes += plan.usage.cache_creation

    def clear(self) -> None:
        self._entries.clear()
        self.reads = self.writes = 0

    def _longest_hit(
        self, model: str, marks: tuple[Breakpoint, ...], now: float
    ) -> tuple[int, tuple[str, bytes] | None]:
        for mark in reversed(marks):
            key = (model, mark.key)
            entry = self._entries.get(key)
            if entry is None:
                continue
            if entry.expires_at <= now:
                del self._entries[key]
                continue
            if entry.ready_at <= now:
                return mark.tokens, key
        return 0, None
