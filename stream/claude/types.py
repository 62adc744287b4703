"""Value types and the client Protocol of the Claude boundary.

Everything outside ``stream/claude/`` talks to Claude through ``ClaudeClient`` and these
frozen values, never through the SDK: a ``CallRequest`` goes in, a classified
``CallResult`` comes out. This module imports nothing heavy (no ``anthropic``, no HTTP
library) so the pipeline, the limiter and the tests can import it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from stream.caching.rules import Ttl
from stream.errors import DocstreamError, Outcome
from stream.models.result import Usage

__all__ = [
    "CallFailed",
    "CallRequest",
    "CallResult",
    "ClaudeClient",
    "DeferredText",
    "PromptPart",
    "message_of",
]


class DeferredText:
    """Text made on first read and then kept.

    An API error message is made safe by a scan of the whole prompt (``stream.claude.
    classify``); deferred, that scan runs only for a message something reads (a DLQ
    record, a fatal pause, a log line), not for every 429 of a storm that is retried.
    """

    __slots__ = ("_make", "_text")

    def __init__(self, make: Callable[[], str]) -> None:
        self._make: Callable[[], str] | None = make
        self._text = ""

    def __str__(self) -> str:
        if self._make is not None:
            # Dropping the maker also drops the prompt it holds.
            self._text, self._make = self._make(), None
        return self._text

    def __repr__(self) -> str:
        return "DeferredText(<not read>)" if self._make is not None else repr(self._text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DeferredText | str):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


def message_of(text: str | DeferredText | None) -> str | None:
    """The text of an error message field, made (once) if it was deferred."""
    return text if text is None or isinstance(text, str) else str(text)


@dataclass(frozen=True, slots=True)
class PromptPart:
    """A piece of the user turn; ``cache`` puts a cache breakpoint at its end."""

    text: str
    cache: Ttl | None = None


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One attempt at one stage of one document.

    ``system`` is the constant instructions; ``user`` is the whole, already rendered
    user turn and is the only place document text may appear. ``user_parts``, when
    given, is the same turn cut where cache breakpoints go (their texts join to
    ``user``); ``system_cache`` marks the end of the system prompt as one.
    ``document_id`` and ``stage`` are for logs and spans only: never sent to the API.
    """

    model: str
    system: str
    user: str
    max_tokens: int
    temperature: float | None = None
    stream: bool = False
    document_id: str = ""
    stage: str = ""
    user_parts: tuple[PromptPart, ...] = ()
    system_cache: Ttl | None = None

    def with_user(self, user: str) -> CallRequest:
        """The same request with another user turn (its breakpoints kept on the unchanged
        prefix, so a retry that appends to the turn still reads the cache)."""
        if not self.user_parts or not user.startswith(self.user):
            return replace(self, user=user, user_parts=())
        extra = PromptPart(user[len(self.user) :])
        return replace(self, user=user, user_parts=(*self.user_parts, extra))


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one attempt produced, already classified into the outcome taxonomy.

    On success ``text`` holds the answer; on any failure it is empty and ``error_class``
    (a short, DLQ-header-safe name such as ``rate_limit_error``) plus ``error_message``
    (at most 500 characters, never document text) say why. ``headers`` are the response
    headers lower-cased, so the limiter can read ``anthropic-ratelimit-*``;
    ``retry_after_s`` is parsed from ``retry-after-ms`` / ``retry-after`` (seconds or an
    HTTP date) and is kept even above 60 s, unlike the SDK's own retry loop.
    ``error_text`` holds the message, possibly deferred (``DeferredText``); read it as
    ``error_message``.
    """

    outcome: Outcome
    text: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    request_id: str | None = None
    http_status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after_s: float | None = None
    error_class: str | None = None
    error_text: str | DeferredText | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    response_id: str | None = None

    @property
    def error_message(self) -> str | None:
        return message_of(self.error_text)

    @property
    def ok(self) -> bool:
        """True when there is an answer to keep (success, or truncated and flagged)."""
        return self.outcome in (Outcome.SUCCESS, Outcome.TRUNCATED)


@runtime_checkable
class ClaudeClient(Protocol):
    """The seam between docstream and Claude (real API, simulator, or in-process stand-in).

    ``call`` never raises for API or network outcomes: they come back classified in the
    ``CallResult``. It raises only for bugs (and ``asyncio.CancelledError`` when the
    caller cancels). ``count_tokens`` returns the API's count or raises ``CallFailed``
    carrying the same classified result; it is an estimate, so callers may ignore failures.
    """

    async def call(self, request: CallRequest) -> CallResult: ...

    async def count_tokens(self, request: CallRequest) -> int: ...

    async def aclose(self) -> None: ...


class CallFailed(DocstreamError):
    """A call that has no value to return (``count_tokens``) failed; ``result`` says why."""

    def __init__(self, result: CallResult) -> None:
        super().__init__(f"{result.outcome.value}: {result.error_class}: {result.error_message}")
        self.result = result
