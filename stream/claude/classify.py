"""Responses and exceptions -> the outcome taxonomy (design.md section 5), in one place.

Every attempt ends in one ``Classification``; the rest of docstream branches on its
``Outcome``, never on an SDK exception or an HTTP status. The mapping, as built:

==========================================================  =============  ================
what came back                                              outcome        error_class
==========================================================  =============  ================
200, stop_reason end_turn / stop_sequence                   SUCCESS        -
200, stop_reason max_tokens / model_context_window_exceeded TRUNCATED      the stop reason
200, stop_reason pause_turn / tool_use / unknown            TRUNCATED      the stop reason
200, stop_reason refusal                                    REFUSED        refusal
200, no stop reason, or a body that is not valid JSON       TRANSIENT      invalid_response
200, answer above the output cap                            BAD_REQUEST    output_too_large
200 SSE, then an ``error`` event                            by error.type  error.type
429 rate_limit_error (incl. ramp_limit_exceeded)            RATE_LIMITED   code or type
429 with error_code enforced_/contract_spend_limit_reached  SPEND_CAP      the error_code
402 billing_error; 400 "credit balance is too low" or
400 "reached your specified ... usage limits"               SPEND_CAP      billing_error
529 overloaded_error                                        OVERLOADED     overloaded_error
408, 409, 499, 500, 502, 503, 504, other 5xx                TRANSIENT      type or default
timeout (connect / read / pool / call deadline)             TRANSIENT      timeout
connection refused                                          TRANSIENT      connection_error
connection reset / closed mid-body                          TRANSIENT      connection_reset
400 "prompt is too long" / "exceed context limit"           BAD_REQUEST    prompt_too_long
400 other, 413, 422, 431, other 4xx                         BAD_REQUEST    type or default
401                                                         AUTH           authentication_error
403                                                         AUTH           permission_error
404                                                         CONFIG         not_found_error
==========================================================  =============  ================

Anything else (a bug in our code or in the SDK) is not classified: ``classify_exception``
returns None and the caller re-raises, so bugs crash loudly instead of filling the DLQ.

Error messages never carry document text: API error bodies can quote the input, so the
message is built from the status and error type plus the API's message with every
quoted span and every run of 8+ characters shared with the user turn cut out, and that
message is dropped if it still shares a run of 31+ characters with the user turn.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2

from stream.claude.types import DeferredText, message_of
from stream.errors import Outcome
from stream.models.dead_letter import truncate_message

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "Classification",
    "MalformedResponse",
    "classify_exception",
    "classify_status",
    "classify_stop_reason",
    "invalid_response",
    "lower_headers",
    "output_cap_for",
    "output_too_large",
    "parse_retry_after",
    "sanitize_api_message",
]

_RECORD_HEADROOM_BYTES = 128 * 1024


def output_cap_for(max_request_size: int) -> int:
    """The largest answer (UTF-8 bytes) one stage may return for a given producer limit.

    The result record must fit under the producer's ``max_request_size`` with room for
    its envelope (usage, lineage, other fields): 128 KiB, or half the limit if smaller.
    """
    return max(max_request_size - _RECORD_HEADROOM_BYTES, max_request_size // 2)


# 917,504 bytes (896 KiB) under Kafka's default 1 MiB max_request_size.
DEFAULT_MAX_OUTPUT_BYTES = output_cap_for(1_048_576)

_SPEND_CODES = frozenset({"enforced_spend_limit_reached", "contract_spend_limit_reached"})
_BILLING_PHRASES = ("credit balance is too low", "usage limits", "spend limit")
_CONTEXT_PHRASES = ("prompt is too long", "exceed context limit", "context window")
_TOKEN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# '...', "...", and typographic double and single quotes (written as escapes).
_QUOTED = re.compile("'[^']*'|\"[^\"]*\"|\u201c[^\u201d]*\u201d|\u2018[^\u2019]*\u2019")
_BACKTICKED = re.compile(r"`([^`]*)`")
_IDENT = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,48}$")
_API_MESSAGE_CHARS = 300
_LEAK_WINDOW, _LEAK_STRIDE = 24, 8  # any shared run of >= 31 chars is caught
_ECHO_MIN = 8  # shorter shared runs are common words ("request", "tokens"), kept

_STATUS_OUTCOMES: dict[int, tuple[Outcome, str]] = {
    400: (Outcome.BAD_REQUEST, "invalid_request_error"),
    401: (Outcome.AUTH, "authentication_error"),
    402: (Outcome.SPEND_CAP, "billing_error"),
    403: (Outcome.AUTH, "permission_error"),
    404: (Outcome.CONFIG, "not_found_error"),
    408: (Outcome.TRANSIENT, "request_timeout"),
    409: (Outcome.TRANSIENT, "conflict_error"),
    413: (Outcome.BAD_REQUEST, "request_too_large"),
    422: (Outcome.BAD_REQUEST, "invalid_request_error"),
    429: (Outcome.RATE_LIMITED, "rate_limit_error"),
    431: (Outcome.BAD_REQUEST, "request_too_large"),
    499: (Outcome.TRANSIENT, "client_closed_request"),
    504: (Outcome.TRANSIENT, "timeout_error"),
    529: (Outcome.OVERLOADED, "overloaded_error"),
}

# For an ``error`` event inside a 200 stream, only the body's type says what happened.
_TYPE_OUTCOMES: dict[str, Outcome] = {
    "invalid_request_error": Outcome.BAD_REQUEST,
    "request_too_large": Outcome.BAD_REQUEST,
    "authentication_error": Outcome.AUTH,
    "permission_error": Outcome.AUTH,
    "billing_error": Outcome.SPEND_CAP,
    "not_found_error": Outcome.CONFIG,
    "rate_limit_error": Outcome.RATE_LIMITED,
    "overloaded_error": Outcome.OVERLOADED,
    "timeout_error": Outcome.TRANSIENT,
    "api_error": Outcome.TRANSIENT,
    "conflict_error": Outcome.TRANSIENT,
}

_STOP_SUCCESS = frozenset({"end_turn", "stop_sequence"})


class MalformedResponse(Exception):
    """A 200 whose body is not a Messages API answer (raised by the client, classified here)."""


@dataclass(frozen=True, slots=True)
class Classification:
    """The classified part of a CallResult: everything except the answer itself."""

    outcome: Outcome
    error_class: str | None = None
    error_text: str | DeferredText | None = None  # read it as error_message
    http_status: int | None = None
    retry_after_s: float | None = None
    request_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def error_message(self) -> str | None:
        return message_of(self.error_text)


def lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> dict[str, str]:
    """Response headers as a plain dict with lower-case names (the limiter reads these)."""
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(name).lower(): str(value) for name, value in items}


def parse_retry_after(
    headers: Mapping[str, str], *, wall_clock: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds) or an HTTP date.

    Unlike the SDK, values above 60 s are kept: during a long overload or a low limit the
    server's answer is the only safe wait. A date in the past gives 0.0.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(0.0, float(email.utils.mktime_tz(parsed)) - wall_clock())


def classify_stop_reason(stop_reason: str | None) -> tuple[Outcome, str | None]:
    """A 200 answer's stop reason -> (outcome, error_class).

    Anything that is not a clean stop is flagged as truncated rather than passed off as
    complete, including stop reasons this code does not know yet.
    """
    if stop_reason in _STOP_SUCCESS:
        return Outcome.SUCCESS, None
    if stop_reason == "refusal":
        return Outcome.REFUSED, "refusal"
    if stop_reason is None:
        return Outcome.TRANSIENT, "invalid_response"
    return Outcome.TRUNCATED, _token(stop_reason, "unknown_stop_reason")


def classify_status(
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    forbidden_text: str = "",
    wall_clock: Callable[[], float] = time.time,
) -> Classification:
    """An error response (or a 200 stream's ``error`` event) -> Classification.

    ``body`` is the decoded JSON (``{"type": "error", "error": {...}}``), a raw string, or
    None. ``forbidden_text`` is the user turn: no run of it may reach the message.
    """
    hdrs = lower_headers(headers)
    error_type, error_code, api_message = _error_fields(body)
    outcome, error_class = _outcome_for(status, error_type, error_code, api_message)
    return Classification(
        outcome=outcome,
        error_class=error_class,
        error_text=_describe(status, error_type, error_code, api_message, body, forbidden_text),
        http_status=status,
        retry_after_s=parse_retry_after(hdrs, wall_clock=wall_clock),
        request_id=hdrs.get("request-id") or _request_id_in(body),
        headers=hdrs,
    )


def _outcome_for(
    status: int, error_type: str | None, error_code: str | None, api_message: str
) -> tuple[Outcome, str]:
    lowered = api_message.lower()
    if error_code is not None and error_code in _SPEND_CODES:
        return Outcome.SPEND_CAP, error_code
    if status == 400 and any(p in lowered for p in _BILLING_PHRASES):
        return Outcome.SPEND_CAP, "billing_error"
    if status == 400 and any(p in lowered for p in _CONTEXT_PHRASES):
        return Outcome.BAD_REQUEST, "prompt_too_long"
    if status == 200 or (status not in _STATUS_OUTCOMES and status < 400):
        # An error event inside a 200 stream (or a status that is not an error at all):
        # only the body's type can say what happened; unknown types are worth a retry.
        outcome = _TYPE_OUTCOMES.get(error_type or "", Outcome.TRANSIENT)
        return outcome, _token(error_code or error_type, "api_error")
    default = _STATUS_OUTCOMES.get(status)
    if default is None:
        default = (
            (Outcome.TRANSIENT, "api_error")
            if status >= 500
            else (Outcome.BAD_REQUEST, "http_error")
        )
    outcome, fallback = default
    if outcome is Outcome.RATE_LIMITED and error_code is not None:
        return outcome, _token(error_code, fallback)
    if status == 413:
        return outcome, fallback  # the API's type here is request_too_large anyway
    return outcome, _token(error_type, fallback)


def output_too_large(size_bytes: int, cap_bytes: int) -> Classification:
    """An answer bigger than the result record can carry: DLQ it, never crash the producer.

    BAD_REQUEST (dead-letter at once) rather than TRUNCATED or a retry: the same prompt
    would produce a similar answer and bill it again, and a cut answer is not a result.
    """
    return Classification(
        outcome=Outcome.BAD_REQUEST,
        error_class="output_too_large",
        error_text=f"answer of {size_bytes} bytes exceeds the output cap of {cap_bytes} bytes",
        http_status=200,
    )


def classify_exception(exc: BaseException, *, forbidden_text: str = "") -> Classification | None:
    """An exception from the SDK or the HTTP layer -> Classification, or None for a bug.

    Network exceptions raised while reading a stream reach us unwrapped (the SDK only
    wraps errors raised while sending), so both forms are handled.
    """
    if isinstance(exc, anthropic.APIStatusError):
        return classify_status(
            exc.status_code, exc.body, exc.response.headers, forbidden_text=forbidden_text
        )
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return Classification(Outcome.TRANSIENT, "timeout", "the call timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return _network(exc.__cause__ if exc.__cause__ is not None else exc)
    if isinstance(exc, httpx2.TransportError):
        return _network(exc)
    if isinstance(exc, MalformedResponse):
        return invalid_response(str(exc))
    if isinstance(
        exc, anthropic.APIResponseValidationError | httpx2.DecodingError | json.JSONDecodeError
    ):
        return invalid_response(f"the response could not be decoded ({type(exc).__name__})")
    return None


def invalid_response(message: str, *, http_status: int | None = 200) -> Classification:
    """A 200 whose body is not a usable Messages API answer: a server fault, retried."""
    return Classification(
        Outcome.TRANSIENT, "invalid_response", truncate_message(message), http_status=http_status
    )


def _network(exc: BaseException) -> Classification:
    if isinstance(exc, httpx2.TimeoutException):
        return Classification(Outcome.TRANSIENT, "timeout", "the call timed out")
    if isinstance(exc, httpx2.ConnectError):
        return Classification(
            Outcome.TRANSIENT, "connection_error", "could not connect to the API endpoint"
        )
    return Classification(
        Outcome.TRANSIENT,
        "connection_reset",
        f"the connection failed mid-request ({type(exc).__name__})",
    )


def sanitize_api_message(message: str, forbidden_text: str = "") -> str:
    """The API's own message with quoted spans removed and no run of the user turn.

    Single, double and typographic quotes are replaced by ``'…'``; backticked spans
    survive only when they look like a parameter name (``max_tokens``). Every run of
    8+ characters that also occurs in ``forbidden_text`` is replaced by ``…`` (short,
    unquoted echoes too, e.g. a marker or a name the API repeats back); if a run of 31+
    characters still appears across those cuts, the whole message is withheld.
    """
    text = " ".join(message.split())
    text = _QUOTED.sub("'…'", text)
    text = _BACKTICKED.sub(lambda m: m.group(0) if _IDENT.match(m.group(1)) else "`…`", text)
    if len(text) > _API_MESSAGE_CHARS:
        text = text[: _API_MESSAGE_CHARS - 1] + "…"
    if not forbidden_text:
        return text
    forbidden = " ".join(forbidden_text.split())
    text = _cut_shared_runs(text, forbidden)
    if _shares_run(text, forbidden):
        return "(the API message quoted the request and was withheld)"
    return text


def _cut_shared_runs(text: str, forbidden: str) -> str:
    """``text`` with each maximal run of _ECHO_MIN+ chars found in ``forbidden`` cut out.

    About len(text) substring searches (the text is at most _API_MESSAGE_CHARS long);
    this runs only on error answers.
    """
    pieces: list[str] = []
    start = i = 0
    while i + _ECHO_MIN <= len(text):
        if text[i : i + _ECHO_MIN] not in forbidden:
            i += 1
            continue
        end = i + _ECHO_MIN
        while end < len(text) and text[i : end + 1] in forbidden:
            end += 1
        pieces += [text[start:i], "…"]
        start = i = end
    return "".join([*pieces, text[start:]])


def _shares_run(text: str, forbidden: str) -> bool:
    """True if some 24-char window at a multiple of 8 occurs in ``forbidden``.

    Any shared run of 31+ characters contains such a window, so this is exact for those
    and costs about len(text) / 8 substring searches.
    """
    starts = range(0, len(text) - _LEAK_WINDOW + 1, _LEAK_STRIDE)
    return any(text[i : i + _LEAK_WINDOW] in forbidden for i in starts)


def _describe(
    status: int,
    error_type: str | None,
    error_code: str | None,
    api_message: str,
    body: object,
    forbidden_text: str,
) -> str | DeferredText:
    """Status, type and code now; the API's own words, when they must be checked against
    the prompt, only when the message is read (see DeferredText)."""
    head = f"HTTP {status}" + (" stream error event" if status == 200 else "")
    if error_type:
        head += f" {_token(error_type, 'error')}"
    if error_code:
        head += f" ({_token(error_code, 'error_code')})"
    if api_message and forbidden_text:
        return DeferredText(
            lambda: truncate_message(f"{head}: {sanitize_api_message(api_message, forbidden_text)}")
        )
    if api_message:
        head += ": " + sanitize_api_message(api_message)
    elif body is not None and not isinstance(body, Mapping):
        head += " (the body was not JSON)"
    return truncate_message(head)


def _error_fields(body: object) -> tuple[str | None, str | None, str]:
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None, ""
    error_type = _str_or_none(error.get("type"))
    details = error.get("details")
    code = _str_or_none(details.get("error_code")) if isinstance(details, Mapping) else None
    message = _str_or_none(error.get("message")) or ""
    return error_type, code, message


def _request_id_in(body: object) -> str | None:
    return _str_or_none(body.get("request_id")) if isinstance(body, Mapping) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _token(value: str | None, fallback: str) -> str:
    """A value fit for a DLQ header and a metric label, else the fallback."""
    return value if value is not None and _TOKEN.match(value) else fallback
