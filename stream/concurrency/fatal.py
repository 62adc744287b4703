"""The fatal gate: after a spend-cap, auth or config outcome, every call waits here.

A fatal outcome is not the document's fault, so the call that met it is not failed: it
waits at this gate, like a 429 waits at the retry-after gate, and resumes where it
stopped (the same attempt again), so a pipeline's finished stages are never re-run. The
whole worker shares one gate, so a spend cap costs one log line and, per pause
interval, one probe call, instead of every in-flight record retrying on its own timer.

States: ``OPEN`` (calls pass), ``CLOSED`` (calls wait; with ``probe`` a single call is
let through as a *probe* once ``pause_s`` has passed; without, the gate is shut for
good and every waiter gets GateShut), ``PROBING`` (the probe is out; the others wait
for its answer). A probe that meets the fatal outcome again closes the gate for another
interval; any other answer opens it. Listeners get one ``GateChange`` per state change,
never one per call: calls that meet the same outcome while the gate is closed are only
counted.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stream.concurrency.clock import Clock, sleep_or_event

__all__ = ["FatalGate", "GateChange", "GateListener", "GateShut", "GateState"]


class GateState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    PROBING = "probing"


@dataclass(frozen=True, slots=True)
class GateChange:
    state: GateState
    reason: str | None  # what closed the gate (an outcome's name); None when open
    message: str | None  # the server's words, never document text
    probe_at: float | None  # clock time of the next probe; None: no probe will go
    repeats: int  # calls that met the fatal outcome since the last change was announced


GateListener = Callable[[GateChange], None]


class GateShut(Exception):
    """The gate is closed with no probe to come: no call will go through it again."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class FatalGate:
    def __init__(
        self, clock: Clock, *, pause_s: float, on_change: Iterable[GateListener] = ()
    ) -> None:
        if not pause_s > 0:
            raise ValueError(f"pause_s must be > 0 (got {pause_s})")
        self._clock = clock
        self._pause_s = pause_s
        self.on_change: list[GateListener] = list(on_change)
        self._state = GateState.OPEN
        self._reason: str | None = None
        self._message: str | None = None
        self._probe_at: float | None = None
        self._repeats = 0
        self._released = False
        self._changed = asyncio.Event()

    @property
    def state(self) -> GateState:
        return self._state

    @property
    def pause_s(self) -> float:
        return self._pause_s

    @property
    def reason(self) -> str | None:
        return self._reason

    async def wait(self) -> bool:
        """Wait until a call may go; True if this call is the probe (report its answer
        with ``close`` or ``reopen``, or ``abandon`` it). Raises GateShut when the gate is
        closed for good, so callers can give up instead of waiting forever."""
        while self._state is not GateState.OPEN and not self._released:
            if self._state is GateState.CLOSED and self._probe_at is None:
                raise GateShut(self._reason or "closed", self._message or "")
            now = self._clock.now()
            if self._state is GateState.CLOSED and self._probe_at is not None:
                if now >= self._probe_at:
                    self._set(GateState.PROBING, probe_at=None)
                    return True
                await sleep_or_event(self._clock, self._probe_at - now, self._changed)
            else:
                await self._changed.wait()
        return False

    def close(self, reason: str, message: str, *, probe: bool, was_probe: bool) -> None:
        """A call met a fatal outcome. ``probe``: let one call try again after the pause
        (a spend cap may lift; a revoked key will not)."""
        if self._state is GateState.OPEN or was_probe:
            self._reason, self._message = reason, message
            probe_at = self._clock.now() + self._pause_s if probe else None
            self._set(GateState.CLOSED, probe_at=probe_at)
            self._repeats = 0
        else:
            self._repeats += 1  # in flight when the gate closed: counted, not announced

    def reopen(self) -> None:
        """The probe got an answer that is not fatal: every waiting call goes."""
        if self._state is GateState.PROBING:
            self._reason = self._message = None
            self._set(GateState.OPEN, probe_at=None)
            self._repeats = 0

    def release(self) -> None:
        """Shutdown: every waiter, now and later, goes on at once (as no probe); the
        caller then stops them before they send anything."""
        self._released = True
        self._changed.set()
        self._changed = asyncio.Event()

    def abandon(self) -> None:
        """The probe ended without an answer (cancelled): the next waiter probes."""
        if self._state is GateState.PROBING:
            self._set(GateState.CLOSED, probe_at=self._clock.now())

    def _set(self, state: GateState, *, probe_at: float | None) -> None:
        self._state, self._probe_at = state, probe_at
        self._changed.set()
        self._changed = asyncio.Event()
        change = GateChange(state, self._reason, self._message, probe_at, self._repeats)
        for listener in list(self.on_change):
            listener(change)
