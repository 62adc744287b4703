"""The job benchmark's ideal makespan, with literal numbers (no broker, no clock)."""

from __future__ import annotations

import pytest

from stream.bench.job_ideal import ideal_job


def test_full_bucket_admits_at_once_then_the_refill_paces_the_rest() -> None:
    """3000 RPM with a one-second bucket: 50 at t=0, then 50/s; 500 documents take
    (500 - 50) / 50 s to admit, plus one latency."""
    ideal = ideal_job(500, rpm_steps=((0, 3000),), bucket_s=1.0, cap=None, latency_s=1.0)
    assert ideal.makespan_s == pytest.approx(10.0, abs=0.02)
    assert ideal.admitted_per_s[0] == pytest.approx(100.0, abs=0.5)  # full bucket + refill
    assert ideal.admitted_per_s[1] == pytest.approx(50.0, abs=0.5)
    assert sum(ideal.admitted_per_s) == pytest.approx(500.0)


def test_a_minute_bucket_is_limited_by_the_concurrency_cap_instead() -> None:
    """A full minute's bucket admits 500 at once, but 256 in flight at 1 s each need two
    round trips."""
    ideal = ideal_job(500, rpm_steps=((0, 3000),), bucket_s=60.0, cap=256, latency_s=1.0)
    assert ideal.makespan_s == pytest.approx(2.0, abs=0.02)


def test_a_bare_concurrency_cap_admits_cap_per_latency() -> None:
    ideal = ideal_job(640, rpm_steps=None, bucket_s=60.0, cap=64, latency_s=1.0)
    assert ideal.makespan_s == pytest.approx(10.0, abs=0.02)


def test_errors_spend_requests_and_a_drop_in_the_limit_slows_the_rest() -> None:
    """5 % 500s: 500 documents need 526.3 requests. A drop to 1200 RPM at 5 s clips the
    bucket to 20 and refills at 20/s."""
    flaky = ideal_job(
        500, rpm_steps=((0, 3000),), bucket_s=1.0, cap=None, latency_s=1.0, error_rate=0.05
    )
    assert flaky.requests == pytest.approx(526.32, abs=0.01)
    assert flaky.makespan_s == pytest.approx((526.32 - 50) / 50 + 1, abs=0.02)
    shifted = ideal_job(
        500, rpm_steps=((0, 3000), (5, 1200)), bucket_s=1.0, cap=None, latency_s=1.0
    )
    # by 5 s: 50 + 250 admitted; then 200 at 20/s (the clipped level is already spent)
    assert shifted.makespan_s == pytest.approx(5 + 200 / 20 + 1, abs=0.05)


def test_no_limit_at_all_has_no_ideal() -> None:
    with pytest.raises(ValueError):
        ideal_job(10, rpm_steps=None, bucket_s=1.0, cap=None, latency_s=1.0)
