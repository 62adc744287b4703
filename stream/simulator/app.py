"""Routing, ``GET /stats`` and the admin endpoints.

Admin calls change the simulator while it runs, so a benchmark or test can switch a
fault on, drop a limit, or start a fresh measurement without restarting anything:

- ``POST /admin/faults`` ``{"mode": NAME, "rate": 0..1, "retry_after": seconds}``
- ``DELETE /admin/faults``
- ``POST /admin/limits`` ``{"rpm": 1200, "itpm": null, "latency": 1.0, ...}``
- ``POST /admin/reset`` (fresh stats and ``*K`` counts, full buckets)
"""

from __future__ import annotations

import json
import logging
from typing import Any

from stream.simulator import wire
from stream.simulator.faults import UnknownFault
from stream.simulator.http import Exchange, Handler
from stream.simulator.messages import MessagesEndpoint
from stream.simulator.state import SimState

__all__ = ["SimulatorApp"]

log = logging.getLogger(__name__)


class SimulatorApp:
    """Maps (method, path) to a handler; every handler answers through the Exchange."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        messages = MessagesEndpoint(state)
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/messages"): messages.create,
            ("POST", "/v1/messages/count_tokens"): messages.count_tokens,
            ("GET", "/stats"): self._stats,
            ("POST", "/admin/faults"): self._set_fault,
            ("DELETE", "/admin/faults"): self._clear_fault,
            ("POST", "/admin/limits"): self._set_limits,
            ("POST", "/admin/reset"): self._reset,
        }
        self._paths = {path for _, path in self.routes}

    def dispatch(self, ex: Exchange) -> None:
        handler = self.routes.get((ex.method, ex.path))
        if handler is None:
            if ex.path in self._paths:
                return _json(ex, 405, _error("invalid_request_error", f"{ex.method} not allowed"))
            return _json(ex, 404, _error("not_found_error", f"Not found: {ex.method} {ex.path}"))
        try:
            handler(ex)
        except Exception:
            log.exception("simulator handler failed for %s %s", ex.method, ex.path)
            if not ex.done:
                _json(ex, 500, _error("api_error", "simulator bug: see its log"))

    def _stats(self, ex: Exchange) -> None:
        _json(ex, 200, self.state.snapshot())

    def _set_fault(self, ex: Exchange) -> None:
        body = _body(ex)
        if body is None:
            return
        try:
            self.state.faults.set_global(
                body.get("mode"), float(body.get("rate", 1.0)), int(body.get("retry_after", 1))
            )
        except (UnknownFault, ValueError, TypeError) as exc:
            return _json(ex, 400, _error("invalid_request_error", str(exc)))
        _json(ex, 200, self._settings())

    def _clear_fault(self, ex: Exchange) -> None:
        self.state.faults.set_global(None)
        _json(ex, 200, self._settings())

    def _set_limits(self, ex: Exchange) -> None:
        body = _body(ex)
        if body is None:
            return
        try:
            self.state.tune(body)
        except ValueError as exc:
            return _json(ex, 400, _error("invalid_request_error", str(exc)))
        _json(ex, 200, self._settings())

    def _reset(self, ex: Exchange) -> None:
        self.state.reset()
        _json(ex, 200, self._settings())

    def _settings(self) -> dict[str, Any]:
        snapshot = self.state.snapshot()
        return {"ok": True, "limits": snapshot["limits"], "fault": snapshot["fault"]}


def _body(ex: Exchange) -> dict[str, Any] | None:
    """The JSON object in the request body, or None after answering 400."""
    try:
        body = json.loads(ex.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        _json(ex, 400, _error("invalid_request_error", "body must be a JSON object"))
        return None
    return body


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _json(ex: Exchange, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    ex.write(wire.response(status, "", body, ex.keep_alive))
    ex.finish()
