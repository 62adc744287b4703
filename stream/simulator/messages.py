"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: the API's decision sequence.

For each request, in the order the real API answers: authentication header, body
parsing and validation, model name, then a fault (marker or global), the concurrency
cap (529), the rate-limit buckets (429, with ``retry-after``), the random 500s, and only
then an answer — delivered after the simulated latency, whole or as server-sent events.
Errors answer at once; every response carries ``request-id`` and the rate-limit headers.
"""

from __future__ import annotations

import json
from typing import Any

from stream.simulator import wire
from stream.simulator.cache import CachePlan
from stream.simulator.delivery import Delivery, plan_message, plan_stream, plan_stream_error
from stream.simulator.faults import ERROR_FAULTS, FaultError, UnknownFault, error_for
from stream.simulator.http import Exchange
from stream.simulator.state import SimState
from stream.simulator.text import Prompt, PromptError, complete, read_prompt

__all__ = ["MessagesEndpoint"]

_FORCING = frozenset({"max_tokens", "refusal", "oversized", "badjson"})


class _Rejected(Exception):
    """Raised inside validation to answer with an API error."""

    def __init__(self, error: FaultError) -> None:
        super().__init__(error.message)
        self.error = error


class _Request:
    __slots__ = ("max_tokens", "model", "model_json", "prompt", "stream")

    def __init__(self, body: dict[str, Any], prompt: Prompt) -> None:
        self.model: str = body["model"]
        self.model_json = json.dumps(self.model)
        self.max_tokens: int = body.get("max_tokens", 0)
        self.stream = body.get("stream") is True
        self.prompt = prompt


class MessagesEndpoint:
    """The two Messages endpoints over one ``SimState``."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def create(self, ex: Exchange) -> None:
        """``POST /v1/messages``."""
        st = self.state
        now = st.now()
        if now >= st.next_change_at:
            st.refresh(now)
        st.stats.arrived(now)
        request_id, message_id = st.ids()
        try:
            req = _parse(ex, need_max_tokens=True)
            fault = st.faults.pick(ex.body, req.prompt)
        except _Rejected as rejected:
            return self._error(ex, request_id, rejected.error)
        except UnknownFault as exc:
            return self._error(ex, request_id, FaultError(400, "invalid_request_error", str(exc)))
        if fault is not None and (
            fault in ERROR_FAULTS or (fault == "overloaded_stream" and not req.stream)
        ):
            mode = "overloaded" if fault == "overloaded_stream" else fault
            error = error_for(mode, req.model, req.prompt.input_tokens)
            retry = f"retry-after: {st.faults.retry_after_s}\r\n" if mode == "rate_limit" else ""
            return self._error(ex, request_id, error, retry)
        cap = st.tunables["max_concurrency"]
        if cap is not None and st.inflight >= cap:
            return self._error(ex, request_id, FaultError(529, "overloaded_error", "Overloaded"))
        cached = st.cache.plan(req.model, req.prompt)
        admission = st.limiter.admit(cached.usage.rate_limited_tokens, req.max_tokens)
        if not admission.admitted:
            message = (
                f"This request would exceed your organization's rate limit of "
                f"{admission.limit:,} {admission.reason} per minute. For details, refer to: "
                "https://docs.claude.com/en/api/rate-limits."
            )
            retry = f"retry-after: {admission.retry_after_header}\r\n"
            return self._error(ex, request_id, FaultError(429, "rate_limit_error", message), retry)
        if st.tunables["error_rate"] and st.rng.random() < st.tunables["error_rate"]:
            st.limiter.settle(req.max_tokens, 0)
            error = FaultError(500, "api_error", "Internal server error")
            return self._error(ex, request_id, error)
        self._answer(ex, req, fault, request_id, message_id, now, cached)

    def _answer(
        self,
        ex: Exchange,
        req: _Request,
        fault: str | None,
        request_id: str,
        message_id: str,
        now: float,
        cached: CachePlan,
    ) -> None:
        st = self.state
        completion = complete(
            req.prompt,
            st.config.out_min,
            st.config.out_max,
            req.max_tokens,
            fault if fault in _FORCING else None,
        )
        st.inflight += 1
        st.stats.admitted(now, st.inflight)
        headers = f"request-id: {request_id}\r\n{st.limiter.headers()}"
        keep = ex.keep_alive
        latency = st.latency_s(completion.output_tokens)
        base = st.tunables["base_latency_s"]
        nominal = base + st.tunables["per_token_latency_s"] * completion.output_tokens
        first_byte = latency * base / nominal if nominal > 0 else 0.0  # time to first token
        st.cache.commit(cached, first_byte)
        model, tokens_in = req.model_json, cached.usage
        output_tokens = completion.output_tokens
        if fault == "overloaded_stream":
            steps = plan_stream_error(
                model, tokens_in, message_id, request_id, headers, first_byte, keep
            )
            output_tokens = 0
        elif req.stream:
            steps = plan_stream(
                model, tokens_in, completion, message_id, headers, latency, first_byte, keep
            )
        else:
            steps = plan_message(model, tokens_in, completion, message_id, headers, latency, keep)
        Delivery(ex, st, steps, fault, output_tokens, req.max_tokens).start()

    def count_tokens(self, ex: Exchange) -> None:
        """``POST /v1/messages/count_tokens`` -> ``{"input_tokens": N}`` (same count as usage)."""
        request_id, _ = self.state.ids()
        try:
            req = _parse(ex, need_max_tokens=False)
        except _Rejected as rejected:
            return self._error(ex, request_id, rejected.error, count=False)
        body = b'{"input_tokens":%d}' % req.prompt.input_tokens
        headers = f"request-id: {request_id}\r\n{self.state.limiter.headers()}"
        ex.write(wire.response(200, headers, body, ex.keep_alive))
        ex.finish()

    def _error(
        self, ex: Exchange, request_id: str, error: FaultError, extra: str = "", count: bool = True
    ) -> None:
        st = self.state
        headers = f"request-id: {request_id}\r\n{extra}{st.limiter.headers()}"
        body = wire.error_body(error.type, error.message, request_id, error.details)
        ex.write(wire.response(error.status, headers, body, ex.keep_alive))
        ex.finish()
        if count:
            st.stats.answered(st.now(), error.status)


def _parse(ex: Exchange, need_max_tokens: bool) -> _Request:
    """Validate as the API does; raise _Rejected with the API's error otherwise."""
    if "x-api-key" not in ex.headers and "authorization" not in ex.headers:
        raise _Rejected(FaultError(401, "authentication_error", "x-api-key header is required"))
    try:
        body = json.loads(ex.body)
    except (ValueError, UnicodeDecodeError):
        raise _Rejected(_invalid("There was an error parsing the body as JSON")) from None
    if not isinstance(body, dict):
        raise _Rejected(_invalid("The request body must be a JSON object"))
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _Rejected(_invalid("model: Field required"))
    if need_max_tokens:
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise _Rejected(_invalid("max_tokens: Field required (an integer >= 1)"))
    try:
        prompt = read_prompt(body)
    except PromptError as exc:
        raise _Rejected(_invalid(str(exc))) from None
    if not model.startswith("claude-"):
        raise _Rejected(FaultError(404, "not_found_error", f"model: {model}"))
    return _Request(body, prompt)


def _invalid(message: str) -> FaultError:
    return FaultError(400, "invalid_request_error", message)
