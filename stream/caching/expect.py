"""Which prompt prefixes are probably in the cache, so the pacer does not reserve them.

Cache reads do not count against the input-tokens-per-minute limit, but a call's
estimate is made before it is sent. When a request carries a breakpoint on a prefix
this worker saw written or read recently (within the entry's lifetime), the prefix is
expected to be read and only the rest is reserved; the real usage reconciles the
reservation either way (a miss costs one under-reservation, corrected by the answer's
headers and usage).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

from stream.caching.rules import CACHE_TTL_S, Ttl
from stream.claude.cost import estimate_input_tokens
from stream.claude.types import CallRequest, CallResult

__all__ = ["CacheExpectation"]

_MAX_PREFIXES = 10_000


class CacheExpectation:
    """Prefixes (per model) seen cached, with the time their entry expires."""

    def __init__(self, now: Callable[[], float], max_prefixes: int = _MAX_PREFIXES) -> None:
        self._now = now
        self._max = max_prefixes
        self._expires: OrderedDict[bytes, float] = OrderedDict()

    def input_estimate(self, request: CallRequest) -> int:
        """Tokens the call will count against ITPM: all but an expected cache read."""
        total = estimate_input_tokens(request.system, request.user)
        marked = _marked_prefix(request)
        if marked is None:
            return total
        key, prefix_tokens, _ = marked
        expires = self._expires.get(key)
        if expires is None or expires <= self._now():
            return total
        return max(total - prefix_tokens, 0)

    def observe(self, request: CallRequest, result: CallResult) -> None:
        """After an answer: a prefix written or read is in the cache for its lifetime."""
        usage = result.usage
        marked = _marked_prefix(request)
        if marked is None or not (
            usage.cache_read_input_tokens or usage.cache_creation_input_tokens
        ):
            return
        key, _, ttl = marked
        self._expires[key] = self._now() + CACHE_TTL_S[ttl]
        self._expires.move_to_end(key)
        while len(self._expires) > self._max:
            self._expires.popitem(last=False)


def _marked_prefix(request: CallRequest) -> tuple[bytes, int, Ttl] | None:
    """(key, tokens, ttl) of the last user part carrying a breakpoint, if any."""
    text = ""
    found: tuple[bytes, int, Ttl] | None = None
    for part in request.user_parts:
        text += part.text
        if part.cache is not None:
            digest = hashlib.blake2b(digest_size=16)
            digest.update(f"{request.model}\0{request.system}\0".encode())
            digest.update(text.encode("utf-8", "surrogatepass"))
            found = (digest.digest(), estimate_input_tokens(request.system, text), part.cache)
    return found
