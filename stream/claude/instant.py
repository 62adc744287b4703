"""``InstantClaudeClient``: an in-process ClaudeClient that answers at once.

It stands in for Claude at the same seam as the real client, so ``docstream bench
overhead`` measures the pipeline, Kafka and bookkeeping without any network or model
time, and unit tests can drive the processor through every outcome.

Answers are deterministic: a small JSON object naming the document, the stage and the
user-turn length (valid as a text answer and as a JSON answer), with usage estimated
from the prompt size. A test can pass ``text_for`` to answer differently, and a
``script`` to make given calls fail: ``{"doc-1": [Outcome.RATE_LIMITED, Outcome.SUCCESS]}``
makes doc-1's first call rate-limited and its second succeed; a key ``"doc-1/stage"``
scripts one stage only and wins over the document key. A script entry may also be a
full ``CallResult``, returned as is. Calls beyond a script succeed.

Tests that script through the documents themselves pass ``markers=True``: a call whose
user turn contains ``<<OUTCOME>>`` (e.g. ``<<refused>>``) gets that outcome every time,
``<<OUTCOME*K>>`` only its first K times (counted per document, stage and outcome).
``fail_first`` makes the first N calls of all transient (an outage) and ``max_delay_s``
adds a random delay (seeded) so answers come back out of order.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from stream.claude.cost import estimate_input_tokens
from stream.claude.types import CallRequest, CallResult
from stream.errors import Outcome
from stream.models.result import Usage

__all__ = ["InstantClaudeClient", "ScriptStep"]

ScriptStep = Outcome | CallResult

# outcome -> (http status, error_class, finish_reason) of a scripted failure
_SCRIPTED: dict[Outcome, tuple[int, str | None, str | None]] = {
    Outcome.SUCCESS: (200, None, "end_turn"),
    Outcome.TRUNCATED: (200, "max_tokens", "max_tokens"),
    Outcome.REFUSED: (200, "refusal", "refusal"),
    Outcome.INVALID_OUTPUT: (200, None, "end_turn"),
    Outcome.RATE_LIMITED: (429, "rate_limit_error", None),
    Outcome.OVERLOADED: (529, "overloaded_error", None),
    Outcome.TRANSIENT: (500, "api_error", None),
    Outcome.BAD_REQUEST: (400, "invalid_request_error", None),
    Outcome.SPEND_CAP: (429, "enforced_spend_limit_reached", None),
    Outcome.AUTH: (401, "authentication_error", None),
    Outcome.CONFIG: (404, "not_found_error", None),
}
_NOT_JSON = "this answer is not JSON {"


class InstantClaudeClient:
    """A ClaudeClient with no network: deterministic answers, optional scripted outcomes."""

    def __init__(
        self,
        *,
        script: Mapping[str, Sequence[ScriptStep]] | None = None,
        text_for: Callable[[CallRequest], str] | None = None,
        retry_after_s: float = 0.0,
        record_calls: bool = False,
        markers: bool = False,
        fail_first: int = 0,
        max_delay_s: float = 0.0,
        seed: int = 1,
    ) -> None:
        self._script: dict[str, deque[ScriptStep]] = {}
        for key, steps in (script or {}).items():
            for step in steps:
                if isinstance(step, Outcome) and step not in _SCRIPTED:
                    raise ValueError(f"{step.value} is not an outcome a Claude call can have")
            self._script[key] = deque(steps)
        self._text_for = text_for or _default_text
        self._retry_after_s = retry_after_s
        self._record = record_calls
        self.calls: list[CallRequest] = []  # filled only with record_calls (benches run long)
        self.call_count = 0
        self.closed = False
        self._markers = markers
        self._marked: dict[str, int] = {}
        self._fail_first = fail_first
        self._max_delay_s = max_delay_s
        self._rng = random.Random(seed)

    async def call(self, request: CallRequest) -> CallResult:
        """Answer at once: the next scripted step for this call, else a success."""
        if self.closed:
            raise RuntimeError("InstantClaudeClient used after aclose()")
        self.call_count += 1
        if self._record:
            self.calls.append(request)
        if self._max_delay_s:
            await asyncio.sleep(self._rng.uniform(0.0, self._max_delay_s))
        step = self._next_step(request)
        if isinstance(step, CallResult):
            return step
        return self._result(request, step, self.call_count)

    async def count_tokens(self, request: CallRequest) -> int:
        """The same chars/4 estimate the pacing uses."""
        return estimate_input_tokens(request.system, request.user)

    async def aclose(self) -> None:
        self.closed = True

    def _next_step(self, request: CallRequest) -> ScriptStep:
        if self.call_count <= self._fail_first:
            return Outcome.TRANSIENT
        for key in (f"{request.document_id}/{request.stage}", request.document_id):
            steps = self._script.get(key)
            if steps:
                return steps.popleft()
        return self._marker(request) if self._markers else Outcome.SUCCESS

    def _marker(self, request: CallRequest) -> Outcome:
        text = request.user
        for outcome in _SCRIPTED:
            if f"<<{outcome.value}>>" in text:
                return outcome
            prefix = f"<<{outcome.value}*"
            start = text.find(prefix)
            if start >= 0:
                limit = int(text[start + len(prefix) : text.index(">>", start)])
                key = f"{request.document_id}/{request.stage}/{outcome.value}"
                self._marked[key] = self._marked.get(key, 0) + 1
                if self._marked[key] <= limit:
                    return outcome
        return Outcome.SUCCESS

    def by_document(self) -> dict[str, int]:
        """Calls per document id (with ``record_calls``)."""
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.document_id] = counts.get(call.document_id, 0) + 1
        return counts

    def _result(self, request: CallRequest, outcome: Outcome, n: int) -> CallResult:
        status, error_class, finish = _SCRIPTED[outcome]
        answered = status == 200 and outcome is not Outcome.REFUSED
        text = ""
        if answered:
            text = _NOT_JSON if outcome is Outcome.INVALID_OUTPUT else self._text_for(request)
        input_tokens = estimate_input_tokens(request.system, request.user)
        output_tokens = min(request.max_tokens, max(1, len(text) // 4)) if status == 200 else 0
        return CallResult(
            outcome=Outcome.SUCCESS if outcome is Outcome.INVALID_OUTPUT else outcome,
            text=text,
            finish_reason=finish,
            usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model=request.model,
            request_id=f"req_instant_{n}",
            http_status=status,
            headers={},
            retry_after_s=self._retry_after_s if outcome is Outcome.RATE_LIMITED else None,
            error_class=error_class,
            error_text=None if error_class is None else f"scripted {outcome.value}",
            latency_s=0.0,
            ttft_s=0.0 if request.stream and answered else None,
            response_id=f"msg_instant_{n}" if status == 200 else None,
        )


def _default_text(request: CallRequest) -> str:
    return json.dumps(
        {"document_id": request.document_id, "stage": request.stage, "chars": len(request.user)},
        separators=(",", ":"),
    )
