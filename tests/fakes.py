"""Fakes at our own seams only (the Claude client protocol), never at Kafka."""

from __future__ import annotations

from stream.claude.instant import InstantClaudeClient
from stream.claude.types import CallRequest

__all__ = ["ScriptedClaude"]


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
