"""Fakes at our own seams only (the Claude client protocol), never at Kafka."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from stream.claude.types import CallRequest, CallResult
from stream.errors import Outcome
from stream.models import Usage

__all__ = ["ScriptedClaude"]

_FAILURES = {
    Outcome.REFUSED: (200, "refusal", "refusal"),
    Outcome.BAD_REQUEST: (400, None, "prompt_too_long"),
    Outcome.TRANSIENT: (500, None, "api_error"),
    Outcome.OVERLOADED: (529, None, "overloaded_error"),
    Outcome.RATE_LIMITED: (429, None, "rate_limit_error"),
    Outcome.AUTH: (401, None, "authentication_error"),
}


@dataclass
class ScriptedClaude:
    """Answers every call; a document whose text contains ``<<OUTCOME>>`` (e.g.
    ``<<refused>>``) gets that outcome instead, ``<<OUTCOME*K>>`` only for K calls.
    ``max_delay_s`` adds a random delay so completions come back out of order."""

    max_delay_s: float = 0.0
    seed: int = 1
    fail_first: int = 0  # the first N calls of all are TRANSIENT (an outage)
    calls: list[CallRequest] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def call(self, request: CallRequest) -> CallResult:
        self.calls.append(request)
        if self.max_delay_s:
            await asyncio.sleep(self._rng.uniform(0, self.max_delay_s))
        outcome = self._scripted(request)
        if len(self.calls) <= self.fail_first:
            outcome = Outcome.TRANSIENT
        if outcome is not None:
            status, finish, error_class = _FAILURES[outcome]
            return CallResult(
                outcome=outcome,
                http_status=status,
                finish_reason=finish,
                error_class=error_class,
                error_message=f"scripted {outcome.value}",
                retry_after_s=0.01 if outcome is Outcome.RATE_LIMITED else None,
                model=request.model,
            )
        text = f"answer for {request.document_id}/{request.stage}"
        if "JSON" in request.system:
            text = '{"summary": "s", "labels": ["a"], "score": 0.5}'
        return CallResult(
            outcome=Outcome.SUCCESS,
            text=text,
            finish_reason="end_turn",
            usage=Usage(input_tokens=len(request.user) // 4, output_tokens=12),
            model=request.model,
            http_status=200,
            latency_s=0.001,
        )

    def _scripted(self, request: CallRequest) -> Outcome | None:
        for outcome in _FAILURES:
            if f"<<{outcome.value}>>" in request.user:
                return outcome
            prefix = f"<<{outcome.value}*"
            start = request.user.find(prefix)
            if start >= 0:
                end = request.user.index(">>", start)
                limit = int(request.user[start + len(prefix) : end])
                key = f"{request.document_id}/{request.stage}/{outcome.value}"
                self._counts[key] = self._counts.get(key, 0) + 1
                if self._counts[key] <= limit:
                    return outcome
        return None

    async def count_tokens(self, request: CallRequest) -> int:
        return (len(request.system) + len(request.user)) // 4

    async def aclose(self) -> None:
        return None

    def by_document(self) -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.document_id] = counts.get(call.document_id, 0) + 1
        return counts
