"""The simulator's configuration and its limit schedule.

``SimulatorConfig`` is what a test, the demo or a benchmark asks for. The *tunable* fields
(limits, latency, error rate) can also change while the server runs — through
``POST /admin/limits`` or a schedule such as ``"0:3000,30:1200,60:3000"`` — so the names
that may change live are listed once here (``TUNABLES``) and shared by both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "TUNABLES",
    "ScheduleStep",
    "SimulatorConfig",
    "check_tunable",
    "format_schedule",
    "parse_schedule",
    "tunable_name",
]

#: Fields that may change while the server runs; ``None`` means unlimited / off.
TUNABLES: Final = (
    "rpm",
    "itpm",
    "otpm",
    "max_concurrency",
    "base_latency_s",
    "per_token_latency_s",
    "jitter",
    "error_rate",
)

_ALIASES: Final = {
    "latency": "base_latency_s",
    "base_latency": "base_latency_s",
    "per_token_latency": "per_token_latency_s",
    "concurrency": "max_concurrency",
}
_OPTIONAL: Final = frozenset({"rpm", "itpm", "otpm", "max_concurrency"})
_INTEGER: Final = frozenset({"rpm", "itpm", "otpm", "max_concurrency"})


def tunable_name(name: str) -> str:
    """The canonical field for a user-facing name (``latency`` -> ``base_latency_s``)."""
    canonical = _ALIASES.get(name.strip().lower().replace("-", "_"), name.strip().lower())
    if canonical not in TUNABLES:
        raise ValueError(f"unknown limit {name!r}; allowed: {', '.join(TUNABLES)}, latency")
    return canonical


def check_tunable(name: str, value: float | None) -> float | None:
    """Validate one tunable value; returns it (ints for counts) or raises ValueError."""
    if value is None:
        if name not in _OPTIONAL:
            raise ValueError(f"{name} cannot be unlimited (null)")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if name in _INTEGER:
        if value < 1 or value != int(value):
            raise ValueError(f"{name} must be a whole number >= 1 (or null), got {value}")
        return int(value)
    if name in ("jitter", "error_rate") and not 0 <= value <= 1:
        raise ValueError(f"{name} must be within 0..1, got {value}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


@dataclass(frozen=True, slots=True)
class ScheduleStep:
    """At ``at_s`` seconds after start, set each (field, value) in ``changes``."""

    at_s: float
    changes: tuple[tuple[str, float | None], ...]


def parse_schedule(text: str) -> tuple[ScheduleStep, ...]:
    """Parse ``"0:3000,30:1200"`` (bare numbers set rpm) or ``"30:rpm=1200,otpm=9000"``.

    A piece without ``T:`` adds to the step before it, so one step can change several
    fields; ``none`` makes a limit unlimited. Steps come back sorted by time.
    """
    steps: list[tuple[float, list[tuple[str, float | None]]]] = []
    for raw in (p.strip() for p in text.split(",")):
        if not raw:
            continue
        when, sep, spec = raw.partition(":")
        if sep and "=" not in when:
            try:
                at_s = float(when)
            except ValueError:
                raise ValueError(f"schedule: bad time in {raw!r}") from None
            if at_s < 0 or not math.isfinite(at_s):
                raise ValueError(f"schedule: time must be >= 0 in {raw!r}")
            steps.append((at_s, []))
        elif not steps:
            raise ValueError(f"schedule: {raw!r} needs a time first, e.g. 30:{raw}")
        else:
            spec = raw
        name, eq, value = spec.partition("=")
        if not eq:
            name, value = "rpm", spec
        canonical = tunable_name(name)
        steps[-1][1].append((canonical, check_tunable(canonical, _number(value, raw))))
    steps.sort(key=lambda s: s[0])
    return tuple(ScheduleStep(at, tuple(changes)) for at, changes in steps if changes)


def _number(value: str, raw: str) -> float | None:
    value = value.strip().lower()
    if value in ("none", "null", "unlimited", "off"):
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"schedule: bad value in {raw!r}") from None


def format_schedule(steps: tuple[ScheduleStep, ...]) -> str:
    """The inverse of ``parse_schedule`` (used to pass a schedule to a subprocess)."""
    pieces: list[str] = []
    for step in steps:
        for i, (name, value) in enumerate(step.changes):
            text = f"{name}={'none' if value is None else repr(value)}"
            pieces.append(f"{step.at_s!r}:{text}" if i == 0 else text)
    return ",".join(pieces)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything the simulator can be asked to do; ``None`` limits mean unlimited.

    Defaults are small and fast: 50 ms base latency, 0.2 ms per output token, ±10 %
    jitter, 20-200 output tokens, no rate limits, no concurrency cap, no random errors.
    """

    host: str = "127.0.0.1"
    port: int = 0
    rpm: int | None = None
    itpm: int | None = None
    otpm: int | None = None
    max_concurrency: int | None = None
    base_latency_s: float = 0.05
    per_token_latency_s: float = 0.0002
    jitter: float = 0.1
    out_min: int = 20
    out_max: int = 200
    error_rate: float = 0.0
    bucket_s: float = 60.0  # seconds of allowance a rate-limit bucket holds (1 = per second)
    seed: int = 0
    schedule: tuple[ScheduleStep, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in TUNABLES:
            check_tunable(name, getattr(self, name))
        if not 1 <= self.out_min <= self.out_max:
            raise ValueError(f"need 1 <= out_min <= out_max (got {self.out_min}, {self.out_max})")
        if not 0 < self.bucket_s <= 60:
            raise ValueError(f"bucket_s must be within (0, 60], got {self.bucket_s}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be within 0..65535, got {self.port}")
        for step in self.schedule:
            if step.at_s < 0:
                raise ValueError(f"schedule: time must be >= 0, got {step.at_s}")
            for name, value in step.changes:
                check_tunable(tunable_name(name), value)
