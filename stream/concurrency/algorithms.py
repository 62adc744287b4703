"""The limit algorithms by name: the one registry that settings, the CLI and benchmarks read.

Adding an algorithm is a ``Limit`` class plus one entry here; nothing else names it.
Whatever differs between algorithms at run time is asked of the ``Limit`` itself (its
``floor``), never of its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from stream.concurrency.limit import AIMDLimit, FixedLimit, Limit
from stream.concurrency.token_latency import TokenLatencyLimit

__all__ = ["DEFAULT_ALGORITHM", "LIMIT_ALGORITHMS", "LimitAlgorithm", "LimitBounds", "build_limit"]


@dataclass(frozen=True, slots=True)
class LimitBounds:
    initial: int
    min_limit: int
    max_limit: int


@dataclass(frozen=True, slots=True)
class LimitAlgorithm:
    build: Callable[[LimitBounds], Limit]
    adaptive: bool  # moves with the samples; a benchmark compares it with a fixed baseline
    help: str


def _fixed(b: LimitBounds) -> Limit:
    return FixedLimit(b.initial)


# A held 529 cap is re-tested by one call above it every this many round trips at full
# use. A refused probe is one 529: 0.5 % of the requests against a cap of 64 for one
# worker, 1.6 % for three (design.md section 8: 529s <= 2 %); 2 round trips made it
# 2.3 % for three, and 4 left room a finished worker freed unused for longer.
CAP_PROBE_ROUNDS = 3


def _aimd(b: LimitBounds) -> Limit:
    return AIMDLimit(
        initial=b.initial,
        min_limit=b.min_limit,
        max_limit=b.max_limit,
        learn_cap=True,
        cap_probe_rounds=CAP_PROBE_ROUNDS,
    )


def _token_latency(b: LimitBounds) -> Limit:
    return TokenLatencyLimit(
        initial=b.initial, min_limit=b.min_limit, max_limit=b.max_limit, learn_cap=True
    )


LIMIT_ALGORITHMS: Mapping[str, LimitAlgorithm] = MappingProxyType(
    {
        "fixed": LimitAlgorithm(_fixed, adaptive=False, help="a constant"),
        "aimd": LimitAlgorithm(
            _aimd, adaptive=True, help="loss-based: cuts on 429, holds under a 529 cap"
        ),
        "token_latency": LimitAlgorithm(
            _token_latency, adaptive=True, help="gradient on latency per output token"
        ),
    }
)

DEFAULT_ALGORITHM = "aimd"


def build_limit(name: str, bounds: LimitBounds) -> Limit:
    found = LIMIT_ALGORITHMS.get(name)
    if found is None:
        known = ", ".join(LIMIT_ALGORITHMS)
        raise ValueError(f"unknown limit algorithm {name!r} (one of {known})")
    return found.build(bounds)
