"""The error tree and the outcome taxonomy (design.md section 5).

Every attempt at a Claude call, and every input record, ends in exactly one Outcome.
The classification happens once, at a boundary (``stream.claude.classify`` for calls,
``stream.models.decode`` for input bytes); everything downstream branches on the
Outcome and its Disposition, never on an SDK exception or an HTTP status.

What an outcome means is one table, ``_SEMANTICS``: its disposition (what happens to
the document), its permit signal (what the adaptive limiter learns) and its breaker
signal (what the circuit breaker learns). Adding an outcome touches this module and the
classifier that produces it, nothing else.

    DocstreamError
    ├── ConfigError          (stream.config) a bad setting; the command stops, exit 2
    ├── PipelineError        a pipeline file that cannot be used
    ├── BrokerError          the embedded broker could not start or stop
    ├── FatalOutcome         auth / unknown model: the fatal gate is closed for good
    ├── CallsStopped         the worker drains: no new Claude call starts
    ├── CallFailed           (stream.claude.types) a call with no value to return failed
    ├── KafkaAdminError      (stream.kafka.admin) cluster unreachable or topic refused
    ├── KafkaReadError       (stream.kafka.reader) a snapshot read stopped making progress
    ├── ReaderError          (stream.kafka.replay_source) topic, end or group unreadable
    ├── PublishAborted       (stream.publish) --strict met an invalid document
    └── ReplayError          (stream.dlq.replay) a DLQ replay could not run or send
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "DLQ_OUTCOMES",
    "BreakerSignal",
    "BrokerError",
    "CallsStopped",
    "Disposition",
    "DocstreamError",
    "Failure",
    "FatalOutcome",
    "Outcome",
    "PermitSignal",
    "PipelineError",
    "Semantics",
]


class Disposition(enum.Enum):
    """What the processor does with an outcome."""

    DONE = "done"  # write a result
    RETRY = "retry"  # back off and try again, within attempts and the deadline
    DEAD_LETTER = "dead_letter"  # write the original bytes to the DLQ now
    # Hold every call at the fatal gate; one probe per pause interval; resume where it stopped.
    PAUSE = "pause"
    # Hold every call, freeze commits, exit non-zero after the pause: nothing is DLQ'd.
    STOP = "stop"


class PermitSignal(enum.Enum):
    """What an attempt teaches the adaptive limiter (its permit ends in exactly one)."""

    SUCCESS = "success"  # a sample: latency and tokens feed the limit
    DROPPED = "dropped"  # congestion: a multiplicative cut
    # Refused for concurrency (529): the server admits at most the other calls in
    # flight; an adaptive limit may hold just under that instead of cutting by a ratio.
    OVERLOADED = "overloaded"
    IGNORED = "ignored"  # says nothing about the server's capacity


class BreakerSignal(enum.Enum):
    """What an attempt teaches the circuit breaker about the service's health."""

    SUCCESS = "success"
    FAILURE = "failure"
    # Congestion that a limit cut answers; a failure only once the limit cannot cut
    # (a fixed limit, or an adaptive one at its floor).
    FAILURE_AT_FLOOR = "failure_at_floor"
    IGNORED = "ignored"  # neither health nor sickness; frees a half-open probe


@dataclass(frozen=True, slots=True)
class Semantics:
    disposition: Disposition
    permit: PermitSignal
    breaker: BreakerSignal


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
    def semantics(self) -> Semantics:
        return _SEMANTICS[self]

    @property
    def disposition(self) -> Disposition:
        return _SEMANTICS[self].disposition

    @property
    def permit(self) -> PermitSignal:
        return _SEMANTICS[self].permit

    @property
    def breaker(self) -> BreakerSignal:
        return _SEMANTICS[self].breaker


_D, _P, _B = Disposition, PermitSignal, BreakerSignal

_SEMANTICS = {
    Outcome.SUCCESS: Semantics(_D.DONE, _P.SUCCESS, _B.SUCCESS),
    # Flagged in the result; policy may DLQ instead.
    Outcome.TRUNCATED: Semantics(_D.DONE, _P.SUCCESS, _B.SUCCESS),
    # The gate holds the model until retry-after; the 429 is the limiter's business.
    Outcome.RATE_LIMITED: Semantics(_D.RETRY, _P.DROPPED, _B.IGNORED),
    Outcome.OVERLOADED: Semantics(_D.RETRY, _P.OVERLOADED, _B.FAILURE_AT_FLOOR),
    # A timeout among transients is a drop too: the caller decides by its error class.
    Outcome.TRANSIENT: Semantics(_D.RETRY, _P.IGNORED, _B.FAILURE),
    # Once, with the validation error.
    Outcome.INVALID_OUTPUT: Semantics(_D.RETRY, _P.IGNORED, _B.IGNORED),
    Outcome.BAD_REQUEST: Semantics(_D.DEAD_LETTER, _P.IGNORED, _B.IGNORED),
    # The model answered (a full round trip): a valid latency sample.
    Outcome.REFUSED: Semantics(_D.DEAD_LETTER, _P.SUCCESS, _B.IGNORED),
    Outcome.BAD_INPUT: Semantics(_D.DEAD_LETTER, _P.IGNORED, _B.IGNORED),
    Outcome.RETRIES_EXHAUSTED: Semantics(_D.DEAD_LETTER, _P.IGNORED, _B.IGNORED),
    # A bug of ours triggered by one record: DLQ it rather than crash-loop on redelivery.
    Outcome.INTERNAL_ERROR: Semantics(_D.DEAD_LETTER, _P.IGNORED, _B.IGNORED),
    Outcome.SPEND_CAP: Semantics(_D.PAUSE, _P.IGNORED, _B.IGNORED),
    Outcome.AUTH: Semantics(_D.STOP, _P.IGNORED, _B.IGNORED),
    Outcome.CONFIG: Semantics(_D.STOP, _P.IGNORED, _B.IGNORED),
}

# The outcomes a DLQ record can carry (its docstream.error.outcome header): those
# dead-lettered outright, invalid_output once its one repair is spent, and truncated with
# processing.truncation=dlq. `dlq inspect/replay --outcome` and the README take this list.
DLQ_OUTCOMES = tuple(
    o
    for o in Outcome
    if o.disposition is Disposition.DEAD_LETTER or o in (Outcome.INVALID_OUTPUT, Outcome.TRUNCATED)
)


class DocstreamError(Exception):
    """Root of docstream's own exceptions."""


class PipelineError(DocstreamError):
    """A pipeline file is invalid: unknown stage, cycle, template error, bad schema."""


class BrokerError(DocstreamError):
    """The embedded broker failed to start, clashed on its port, or would not stop."""


class FatalOutcome(DocstreamError):
    """Auth or unknown model: the call path's fatal gate is closed for good, so no call
    will succeed. The worker holds the record and exits 3; a library caller gets this."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(f"{outcome.value}: {message}")
        self.outcome = outcome


class CallsStopped(DocstreamError):
    """The worker is draining: a call that had not started will not. The record gets no
    output and no commit, so it is redelivered (not duplicated) after a restart."""


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
