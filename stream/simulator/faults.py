"""Fault modes: chosen per request by a marker in the prompt, or globally by an admin call.

A marker ``[[sim:NAME]]`` anywhere in the system prompt or a message makes every request
carrying it fail that way; ``[[sim:NAME*K]]`` fails only the first K requests with that
prompt, so a test can check "fails twice, then succeeds". The count is keyed by the
system prompt and the text up to the end of the marker: a retry that appends to the
turn (e.g. a JSON repair quoting the validation error) counts as the same prompt.
A global mode (``POST /admin/faults {"mode": NAME, "rate": r}``) hits each request with
probability ``r`` from the seeded RNG. A marker wins over the global mode.

*Error* faults answer at once with an API error and take no rate-limit budget; *delivery*
faults pass admission like a normal request and then change how the answer arrives.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Final

from stream.simulator.text import Prompt

__all__ = [
    "DELIVERY_FAULTS",
    "ERROR_FAULTS",
    "FAULT_MODES",
    "FaultBook",
    "FaultError",
    "UnknownFault",
    "error_for",
]

#: mode -> (HTTP status, error type)
ERROR_FAULTS: Final = {
    "prompt_too_long": (400, "invalid_request_error"),
    "too_large": (413, "request_too_large"),
    "auth": (401, "authentication_error"),
    "forbidden": (403, "permission_error"),
    "unknown_model": (404, "not_found_error"),
    "spend_cap": (429, "rate_limit_error"),
    "rate_limit": (429, "rate_limit_error"),
    "overloaded": (529, "overloaded_error"),
    "error500": (500, "api_error"),
}
DELIVERY_FAULTS: Final = frozenset(
    {"hang", "reset", "overloaded_stream", "refusal", "max_tokens", "oversized", "badjson"}
)
FAULT_MODES: Final = frozenset(ERROR_FAULTS) | DELIVERY_FAULTS
CONTEXT_WINDOW: Final = 200_000

_MARKER = re.compile(r"\[\[sim:([A-Za-z0-9_]+)(?:\*(\d+))?\]\]")


class UnknownFault(ValueError):
    """A marker or admin call named a mode that does not exist (a typo in a test)."""


@dataclass(frozen=True, slots=True)
class FaultError:
    """An API error to answer with."""

    status: int
    type: str
    message: str
    details: dict[str, str] | None = None


def error_for(mode: str, model: str, input_tokens: int) -> FaultError:
    """The error the real API sends for ``mode`` (message texts as the API words them)."""
    status, kind = ERROR_FAULTS[mode]
    messages = {
        "prompt_too_long": (
            f"prompt is too long: {CONTEXT_WINDOW + input_tokens} tokens > {CONTEXT_WINDOW} maximum"
        ),
        "too_large": "Request exceeds the maximum allowed number of bytes.",
        "auth": "invalid x-api-key",
        "forbidden": "Your API key does not have permission to use the specified resource.",
        "unknown_model": f"model: {model}",
        "spend_cap": (
            "You have reached your specified API usage limits. "
            "You will regain access at the start of the next billing period."
        ),
        "rate_limit": (
            "This request would exceed the rate limit for your organization "
            "(simulated rate_limit fault). Please retry after the retry-after delay."
        ),
        "overloaded": "Overloaded",
        "error500": "Internal server error",
    }
    details = {"error_code": "enforced_spend_limit_reached"} if mode == "spend_cap" else None
    return FaultError(status, kind, messages[mode], details)


class FaultBook:
    """Decides which fault (if any) a request gets; remembers ``*K`` counts."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._counts: dict[tuple[str, int, int], int] = {}
        self.global_mode: str | None = None
        self.global_rate = 1.0
        self.retry_after_s = 1

    def set_global(self, mode: str | None, rate: float = 1.0, retry_after_s: int = 1) -> None:
        """Set (or with ``None`` clear) the global mode, hitting ``rate`` of requests."""
        if mode is not None and mode not in FAULT_MODES:
            raise UnknownFault(
                f"unknown fault mode {mode!r}; known: {', '.join(sorted(FAULT_MODES))}"
            )
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {rate}")
        if retry_after_s < 1:
            raise ValueError(f"retry_after_s must be >= 1, got {retry_after_s}")
        self.global_mode, self.global_rate, self.retry_after_s = mode, rate, retry_after_s

    def reset_counts(self) -> None:
        """Forget how often each ``*K`` marker has fired."""
        self._counts.clear()

    def pick(self, raw_body: bytes, prompt: Prompt) -> str | None:
        """The fault for this request, or None. Raises UnknownFault for a bad marker."""
        if b"[[sim:" in raw_body:
            found = _find_marker(prompt)
            if found is not None:
                name, times, anchor = found
                if times is None:
                    return name
                key = (name, times, hash((prompt.system, anchor)))
                fired = self._counts.get(key, 0)
                if fired < times:
                    self._counts[key] = fired + 1
                    return name
        mode = self.global_mode
        if mode is not None and (self.global_rate >= 1.0 or self._rng.random() < self.global_rate):
            return mode
        return None


def _find_marker(prompt: Prompt) -> tuple[str, int | None, str] | None:
    for text in (prompt.system, *prompt.texts):
        match = _MARKER.search(text)
        if match is not None:
            name = match.group(1)
            if name not in FAULT_MODES:
                raise UnknownFault(
                    f"unknown simulator fault marker [[sim:{name}]]; "
                    f"known: {', '.join(sorted(FAULT_MODES))}"
                )
            times = None if match.group(2) is None else int(match.group(2))
            return name, times, text[: match.end()]
    return None
