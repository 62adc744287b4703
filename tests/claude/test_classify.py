"""classify.py with constructed inputs: the rows the simulator cannot produce, the SDK's
exception types, retry-after parsing and message sanitising."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import anthropic
import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.claude.classify import (
    MalformedResponse,
    classify_exception,
    classify_status,
    classify_stop_reason,
    output_cap_for,
    output_too_large,
    parse_retry_after,
    sanitize_api_message,
)
from stream.errors import Outcome

_URL = "http://sim.test/v1/messages"


def _body(kind: str, message: str = "m", code: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"type": kind, "message": message}
    if code is not None:
        error["details"] = {"error_code": code}
    return {"type": "error", "error": error, "request_id": "req_body"}


def _status_error(status: int, body: object, headers: dict[str, str] | None = None) -> Exception:
    """An SDK status error built the way the SDK builds one from a response."""
    request = httpx2.Request("POST", _URL)
    content = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
    response = httpx2.Response(status, headers=headers or {}, content=content, request=request)
    return anthropic.APIStatusError(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "body", "outcome", "error_class"),
    [
        (402, _body("billing_error"), Outcome.SPEND_CAP, "billing_error"),
        (422, _body("invalid_request_error"), Outcome.BAD_REQUEST, "invalid_request_error"),
        (409, _body("conflict_error"), Outcome.TRANSIENT, "conflict_error"),
        (504, _body("timeout_error"), Outcome.TRANSIENT, "timeout_error"),
        (502, "<html>bad gateway</html>", Outcome.TRANSIENT, "api_error"),
        (503, None, Outcome.TRANSIENT, "api_error"),
        (408, None, Outcome.TRANSIENT, "request_timeout"),
        (413, _body("request_too_large"), Outcome.BAD_REQUEST, "request_too_large"),
        (431, None, Outcome.BAD_REQUEST, "request_too_large"),
        (418, None, Outcome.BAD_REQUEST, "http_error"),
        (
            429,
            _body("rate_limit_error", code="contract_spend_limit_reached"),
            Outcome.SPEND_CAP,
            "contract_spend_limit_reached",
        ),
        (
            429,
            _body("rate_limit_error", code="ramp_limit_exceeded"),
            Outcome.RATE_LIMITED,
            "ramp_limit_exceeded",
        ),
        (
            400,
            _body("invalid_request_error", "Your credit balance is too low to access the API."),
            Outcome.SPEND_CAP,
            "billing_error",
        ),
        (
            400,
            _body("invalid_request_error", "input length and `max_tokens` exceed context limit"),
            Outcome.BAD_REQUEST,
            "prompt_too_long",
        ),
        (200, _body("overloaded_error"), Outcome.OVERLOADED, "overloaded_error"),
        (200, _body("rate_limit_error"), Outcome.RATE_LIMITED, "rate_limit_error"),
        (200, _body("api_error"), Outcome.TRANSIENT, "api_error"),
        (200, _body("something_new"), Outcome.TRANSIENT, "something_new"),
        (200, "not json", Outcome.TRANSIENT, "api_error"),
    ],
)
def test_classify_status_constructed_rows_match_the_taxonomy(
    status: int, body: object, outcome: Outcome, error_class: str
) -> None:
    """Statuses the simulator never sends (402, 422, 409, 504, 502...) land in their row."""
    verdict = classify_exception(_status_error(status, body))
    assert verdict is not None
    assert (verdict.outcome, verdict.error_class, verdict.http_status) == (
        outcome,
        error_class,
        status,
    )


def test_classify_status_error_class_from_body_is_sanitised_to_a_token() -> None:
    """A body type that is not a short snake_case token never reaches a DLQ header."""
    verdict = classify_status(400, _body("Bad Type\r\nInjected: 1"))
    assert verdict.error_class == "invalid_request_error"
    assert "\n" not in (verdict.error_message or "")


def test_classify_status_request_id_from_header_then_body() -> None:
    """The request id comes from the request-id header, else from the error body."""
    assert classify_status(500, _body("api_error"), {"Request-Id": "req_h"}).request_id == "req_h"
    assert classify_status(500, _body("api_error")).request_id == "req_body"


@pytest.mark.parametrize(
    ("stop_reason", "outcome", "error_class"),
    [
        ("end_turn", Outcome.SUCCESS, None),
        ("stop_sequence", Outcome.SUCCESS, None),
        ("max_tokens", Outcome.TRUNCATED, "max_tokens"),
        ("model_context_window_exceeded", Outcome.TRUNCATED, "model_context_window_exceeded"),
        ("pause_turn", Outcome.TRUNCATED, "pause_turn"),
        ("a-future-reason!", Outcome.TRUNCATED, "unknown_stop_reason"),
        ("refusal", Outcome.REFUSED, "refusal"),
        (None, Outcome.TRANSIENT, "invalid_response"),
    ],
)
def test_classify_stop_reason_each_reason_maps_to_its_outcome(
    stop_reason: str | None, outcome: Outcome, error_class: str | None
) -> None:
    """Only end_turn/stop_sequence are clean; unknown reasons are flagged, not trusted."""
    assert classify_stop_reason(stop_reason) == (outcome, error_class)


def test_classify_exception_network_failures_are_transient_with_a_class() -> None:
    """Timeouts, refused connections and resets (wrapped or raw) are TRANSIENT."""
    request = httpx2.Request("POST", _URL)
    wrapped_reset = anthropic.APIConnectionError(request=request)
    wrapped_reset.__cause__ = httpx2.RemoteProtocolError("peer closed connection")
    refused = anthropic.APIConnectionError(request=request)
    refused.__cause__ = httpx2.ConnectError("connection refused")
    cases = [
        (anthropic.APITimeoutError(request=request), "timeout"),
        (httpx2.ReadTimeout("read timed out"), "timeout"),
        (TimeoutError(), "timeout"),
        (wrapped_reset, "connection_reset"),
        (refused, "connection_error"),
        (httpx2.RemoteProtocolError("incomplete chunked read"), "connection_reset"),
        (httpx2.ReadError("reset by peer"), "connection_reset"),
        (json.JSONDecodeError("Expecting value", "x", 0), "invalid_response"),
        (MalformedResponse("not a message"), "invalid_response"),
    ]
    for exc, error_class in cases:
        verdict = classify_exception(exc)
        assert verdict is not None, exc
        assert (verdict.outcome, verdict.error_class) == (Outcome.TRANSIENT, error_class), exc


def test_classify_exception_unknown_exception_is_not_classified() -> None:
    """A bug (any other exception) is not turned into an outcome: the caller re-raises."""
    assert classify_exception(KeyError("bug")) is None
    assert classify_exception(ValueError("bug")) is None


def test_parse_retry_after_forms_and_values_above_sixty_seconds_are_kept() -> None:
    """retry-after-ms wins, seconds may be floats or > 60, HTTP dates count from now."""
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    in_90s = format_datetime(datetime(2026, 1, 1, 12, 1, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "120"}) == 120.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after": in_90s}, wall_clock=lambda: now) == 90.0
    assert parse_retry_after({"retry-after": in_90s}, wall_clock=lambda: now + 600) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_output_too_large_is_a_dead_letter_with_its_class() -> None:
    """An answer over the cap is BAD_REQUEST/output_too_large: DLQ'd, never retried."""
    verdict = output_too_large(2_000_000, output_cap_for(1_048_576))
    assert (verdict.outcome, verdict.error_class) == (Outcome.BAD_REQUEST, "output_too_large")
    assert output_cap_for(1_048_576) == 1_048_576 - 128 * 1024
    assert output_cap_for(100_000) == 50_000


def test_error_message_quoting_the_document_drops_the_quote() -> None:
    """An API message that quotes the input keeps the status and type, not the text."""
    secret = "Patient Jane Q. Example, born 1970-01-01, diagnosis: confidential"
    body = _body("invalid_request_error", f"messages.0.content: unexpected value {secret} here")
    verdict = classify_status(400, body, forbidden_text=f"prefix {secret} suffix")
    message = verdict.error_message or ""
    assert message.startswith("HTTP 400 invalid_request_error")
    assert "Jane" not in message
    quoted = classify_status(400, _body("invalid_request_error", f"bad value '{secret[:20]}'"))
    assert "Jane" not in (quoted.error_message or "")


def test_error_message_never_echoes_a_short_unquoted_piece_of_the_document() -> None:
    """An unquoted echo shorter than 31 characters (a marker, a name) is cut as well, and
    a message that shares nothing with the document is kept whole."""
    user = "<document>\nmeeting with Jane Roe [[sim:nosuchmode]] at noon\n</document>"
    echo = _body("invalid_request_error", "unknown marker [[sim:nosuchmode]] near Jane Roe.")
    message = classify_status(400, echo, forbidden_text=user).error_message or ""
    assert message.startswith("HTTP 400 invalid_request_error: unknown marker")
    assert "nosuchmode" not in message and "Jane Roe" not in message
    plain = _body("invalid_request_error", "max_tokens: must be at most 64000")
    kept = classify_status(400, plain, forbidden_text=user).error_message
    assert kept == "HTTP 400 invalid_request_error: max_tokens: must be at most 64000"


def test_error_message_is_at_most_500_characters() -> None:
    """Messages fit the DLQ header limit."""
    verdict = classify_status(400, _body("invalid_request_error", "x " * 5000))
    assert len(verdict.error_message or "") <= 500


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="()'\"`"), min_size=31)


@given(document=_TEXT, prefix=st.text(max_size=40), suffix=st.text(max_size=40))
def test_sanitize_api_message_never_keeps_a_31_char_run_of_the_document(
    document: str, prefix: str, suffix: str
) -> None:
    """Whatever the API quotes, no 31-character run of the user turn survives."""
    cleaned = sanitize_api_message(prefix + document + suffix, forbidden_text=document)
    normalised = " ".join(document.split())
    runs = (cleaned[i : i + 31] for i in range(max(0, len(cleaned) - 30)))
    assert not any(run in document or run in normalised for run in runs)
