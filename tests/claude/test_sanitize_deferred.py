"""The API error message is checked against the prompt only when read, and then fully."""

from __future__ import annotations

import random

import pytest

from stream.claude import classify
from stream.claude.classify import classify_status
from stream.claude.types import CallResult
from stream.errors import Outcome

_WORDS = ["ledger", "invoice", "audit", "the", "of", "margin", "clause", "renewal", "Jane"]


def _prompt(chars: int = 200_000) -> str:
    rng = random.Random(3)
    return " ".join(rng.choices(_WORDS, k=chars // 4))[:chars]


def _body(kind: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def test_no_8_char_run_of_a_200_kb_prompt_survives() -> None:
    """Pieces of 8 to 40 characters from the start, middle and end of a 200 KB prompt,
    between separators it does not contain: every piece is cut, every separator kept."""
    prompt = f"<document>\n{_prompt()}\n</document>"
    pieces = [prompt[at : at + size] for at, size in ((12, 8), (100_003, 40), (199_990, 17))]
    pieces += [prompt[150_001:150_021], prompt[-12:]]
    separators = [f" |{n}#{n}| " for n in range(len(pieces) + 1)]
    message = separators[0] + "".join(p + s for p, s in zip(pieces, separators[1:], strict=True))
    text = classify_status(400, _body("invalid_request_error", message), {}, forbidden_text=prompt)
    cleaned = text.error_message or ""
    assert cleaned.startswith("HTTP 400 invalid_request_error: ")
    normalised = " ".join(prompt.split())
    windows = (cleaned[i : i + 8] for i in range(len(cleaned) - 7))
    leaked = [w for w in windows if "…" not in w and (w in prompt or w in normalised)]
    assert leaked == []
    assert all(s.strip() in cleaned for s in separators)


def test_a_retried_reply_never_scans_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Classifying a 429 against the prompt costs no scan; the first read scans once and
    later reads (the DLQ record, a log line) reuse the text."""
    calls: list[str] = []
    real = classify.sanitize_api_message

    def counting(message: str, forbidden_text: str = "") -> str:
        calls.append(message)
        return real(message, forbidden_text)

    monkeypatch.setattr(classify, "sanitize_api_message", counting)
    prompt = _prompt(20_000)
    body = _body("rate_limit_error", f"slow down, near {prompt[5_000:5_030]}")
    verdict = classify_status(429, body, {}, forbidden_text=prompt)
    result = CallResult(Outcome.RATE_LIMITED, error_text=verdict.error_text)
    assert calls == []
    first = result.error_message or ""
    assert first.startswith("HTTP 429 rate_limit_error: slow down, near")
    assert prompt[5_000:5_030] not in first
    assert (result.error_message, verdict.error_message) == (first, first)
    assert len(calls) == 1
