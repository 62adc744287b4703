"""Full-jitter exponential backoff, floored by retry-after."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.concurrency import backoff_delay


class FixedRandom(random.Random):
    """random() always returns ``value``, so uniform(a, b) = a + (b - a) * value."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 0.25), (1, 0.5), (3, 2.0), (5, 8.0), (6, 15.0), (40, 15.0)]
)
def test_backoff_full_jitter_with_literal_numbers(attempt: int, expected: float) -> None:
    """base 0.5, cap 30, draw 0.5: half of min(30, 0.5 * 2**attempt)."""
    assert backoff_delay(attempt, base=0.5, cap=30, rng=FixedRandom(0.5)) == expected


def test_backoff_retry_after_is_a_floor_plus_small_jitter() -> None:
    """retry-after 90 s (above 60) with a draw of 0.5: 90 + 0.5 * 9 = 94.5."""
    delay = backoff_delay(0, base=0.5, cap=30, rng=FixedRandom(0.5), retry_after=90)
    assert delay == 94.5


def test_backoff_retry_after_below_the_draw_keeps_the_draw() -> None:
    """retry-after 1 s but the exponential draw is 15 s: 15 s."""
    delay = backoff_delay(10, base=0.5, cap=30, rng=FixedRandom(0.5), retry_after=1.0)
    assert delay == 15.0


def test_backoff_huge_attempt_does_not_overflow() -> None:
    """attempt 10**6 is simply the cap's range."""
    assert backoff_delay(10**6, base=1.0, cap=8.0, rng=FixedRandom(0.25)) == 2.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempt": -1},
        {"base": 0.0},
        {"cap": -1.0},
        {"retry_after": float("inf")},
        {"retry_after_jitter": 2.0},
    ],
)
def test_backoff_rejects_bad_arguments(kwargs: dict[str, float]) -> None:
    """Negative attempts, non-positive base/cap, infinite retry-after raise ValueError."""
    args: dict[str, float] = {"attempt": 0, "base": 0.5, "cap": 10.0} | kwargs
    with pytest.raises(ValueError):
        backoff_delay(
            int(args.pop("attempt")),
            base=args.pop("base"),
            cap=args.pop("cap"),
            rng=random.Random(1),
            **args,
        )


@given(
    attempt=st.integers(min_value=0, max_value=200),
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=600),
    seed=st.integers(),
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=3600)),
)
def test_backoff_stays_within_its_bounds(
    attempt: int, base: float, cap: float, seed: int, retry_after: float | None
) -> None:
    """0 <= delay <= min(cap, base*2**n); with retry-after: ra <= delay <= max(that, 1.1 ra)."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 1000))
    delay = backoff_delay(
        attempt, base=base, cap=cap, rng=random.Random(seed), retry_after=retry_after
    )
    if retry_after is None:
        assert 0.0 <= delay <= ceiling
    else:
        assert retry_after <= delay <= max(ceiling, retry_after * 1.1) + 1e-9
