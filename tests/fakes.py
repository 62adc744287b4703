"""Fakes at our own seams only (the Claude client protocol), never at Kafka."""

from __future__ import annotations

from collections.abc import Mapping

from stream.claude.instant import InstantClaudeClient
from stream.claude.types import CallRequest, CallResult
from stream.errors import Outcome
from stream.models import Usage

__all__ = ["ScriptedClaude", "answered", "refused"]


def answered(model: str, headers: Mapping[str, str], latency_s: float) -> CallResult:
    """A fake server's success: 10 tokens in, 12 out, with its rate-limit headers."""
    return CallResult(
        outcome=Outcome.SUCCESS,
        text="ok",
        finish_reason="end_turn",
        usage=Usage(input_tokens=10, output_tokens=12),
        model=model,
        http_status=200,
        headers=dict(headers),
        latency_s=latency_s,
    )


def refused(model: str, headers: Mapping[str, str], status: int = 429) -> CallResult:
    """A fake server's 429 (retry-after 1 s) or 529, with its rate-limit headers."""
    outcome, kind = (
        (Outcome.RATE_LIMITED, "rate_limit_error")
        if status == 429
        else (Outcome.OVERLOADED, "overloaded_error")
    )
    return CallResult(
        outcome=outcome,
        http_status=status,
        error_class=kind,
        error_text=kind,
        retry_after_s=1.0 if status == 429 else None,
        headers=dict(headers),
        model=model,
    )


def _answer(request: CallRequest) -> str:
    if "JSON" in request.system:  # the shape the triage pipeline's JSON stage validates
        return '{"summary": "s", "labels": ["a"], "score": 0.5}'
    return f"answer for {request.document_id}/{request.stage}"


class ScriptedClaude(InstantClaudeClient):
    """The one Claude fake (``InstantClaudeClient``) as the tests use it: outcomes
    scripted by ``<<OUTCOME>>`` / ``<<OUTCOME*K>>`` markers in the document text, every
    call recorded, a short retry-after on 429s."""

    def __init__(
        self,
        *,
        max_delay_s: float = 0.0,
        seed: int = 1,
        fail_first: int = 0,
        retry_after_s: float = 0.01,
    ) -> None:
        super().__init__(
            text_for=_answer,
            retry_after_s=retry_after_s,
            record_calls=True,
            markers=True,
            fail_first=fail_first,
            max_delay_s=max_delay_s,
            seed=seed,
        )
