"""The error tree and the outcome taxonomy (design.md section 5).

Every attempt at a Claude call, and every input record, ends in exactly one Outcome.
The classification happens once, at a boundary (``stream.claude.classify`` for calls,
``stream.models.decode`` for input bytes); everything downstream branches on the
Outcome and its Disposition, never on an SDK exception or an HTTP status.

    DocstreamError
    ├── ConfigError          (stream.config) a bad setting; the command stops, exit 2
    ├── PipelineError        a pipeline file that cannot be used
    ├── BrokerError          the embedded broker could not start or stop
    └── FatalOutcome         auth / spend cap / unknown model: the worker pauses, then exits
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "BrokerError",
    "Disposition",
    "DocstreamError",
    "Failure",
    "FatalOutcome",
    "Outcome",
    "PipelineError",
]


class Disposition(enum.Enum):
    """What the processor does with an outcome."""

    DONE = "done"  # write a result
    RETRY = "retry"  # back off and try again, within attempts and the deadline
    DEAD_LETTER = "dead_letter"  # write the original bytes to the DLQ now
    PAUSE = "pause"  # stop the whole worker: nothing is DLQ'd, nothing more committed


class Outcome(enum.Enum):
    SUCCESS = "success"
    TRUNCATED = "truncated"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    TRANSIENT = "transient"
    BAD_REQUEST = "bad_request"
    REFUSED = "refused"
    SPEND_CAP = "spend_cap"
    AUTH = "auth"
    CONFIG = "config"
    BAD_INPUT = "bad_input"
    INVALID_OUTPUT = "invalid_output"
    RETRIES_EXHAUSTED = "retries_exhausted"
    INTERNAL_ERROR = "internal_error"

    @property
    def disposition(self) -> Disposition:
        return _DISPOSITIONS[self]

    @property
    def is_congestion(self) -> bool:
        """A signal the limiter treats as a drop (multiplicative decrease)."""
        return self in (Outcome.RATE_LIMITED, Outcome.OVERLOADED)


_DISPOSITIONS = {
    Outcome.SUCCESS: Disposition.DONE,
    Outcome.TRUNCATED: Disposition.DONE,  # flagged in the result; policy may DLQ instead
    Outcome.RATE_LIMITED: Disposition.RETRY,
    Outcome.OVERLOADED: Disposition.RETRY,
    Outcome.TRANSIENT: Disposition.RETRY,
    Outcome.INVALID_OUTPUT: Disposition.RETRY,  # once, with the validation error
    Outcome.BAD_REQUEST: Disposition.DEAD_LETTER,
    Outcome.REFUSED: Disposition.DEAD_LETTER,
    Outcome.BAD_INPUT: Disposition.DEAD_LETTER,
    Outcome.RETRIES_EXHAUSTED: Disposition.DEAD_LETTER,
    # A bug of ours triggered by one record: DLQ it rather than crash-loop on redelivery.
    Outcome.INTERNAL_ERROR: Disposition.DEAD_LETTER,
    Outcome.SPEND_CAP: Disposition.PAUSE,
    Outcome.AUTH: Disposition.PAUSE,
    Outcome.CONFIG: Disposition.PAUSE,
}


class DocstreamError(Exception):
    """Root of docstream's own exceptions."""


class PipelineError(DocstreamError):
    """A pipeline file is invalid: unknown stage, cycle, template error, bad schema."""


class BrokerError(DocstreamError):
    """The embedded broker failed to start, clashed on its port, or would not stop."""


class FatalOutcome(DocstreamError):
    """An outcome that stops the worker (auth, spend cap, unknown model)."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(f"{outcome.value}: {message}")
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a document goes to the DLQ: everything its context headers carry."""

    outcome: Outcome
    error_class: str
    message: str  # never document text
    first_failure_at: datetime
    last_failure_at: datetime
    http_status: int | None = None
    request_id: str | None = None
    stage: str | None = None
    model: str | None = None
    attempts: int = 0
