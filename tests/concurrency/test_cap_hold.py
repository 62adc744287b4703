"""A 529 cap is held just under, not sawed below: literal samples and a simulated server
(``cap_sim``: 529 beyond 64 calls in flight, 1 s answers, refusals back in 2 ms), all on
event time, no clock read."""

from __future__ import annotations

import pytest

from stream.concurrency import AIMDLimit, LimitBounds, build_limit
from stream.concurrency.cap_hold import CapHold
from tests.concurrency.cap_sim import run_cap


def aimd() -> AIMDLimit:
    """The registry's default algorithm, with the settings' default bounds."""
    limit = build_limit("aimd", LimitBounds(initial=16, min_limit=1, max_limit=256))
    assert isinstance(limit, AIMDLimit)
    return limit


def refused(limit: AIMDLimit, now: float, inflight: int) -> int:
    return limit.on_sample(now=now, rtt=0.002, inflight=inflight, dropped=True, overloaded=True)


def answered(limit: AIMDLimit, now: float, inflight: int, count: int = 1) -> int:
    for _ in range(count):
        limit.on_sample(now=now, rtt=1.0, inflight=inflight, dropped=False)
    return limit.limit


def held_at_64() -> AIMDLimit:
    """Ramped past the cap; the 65th call was refused."""
    limit = aimd()
    limit.raise_to(100)
    assert refused(limit, 0.4, inflight=65) == 64
    return limit


def test_a_refused_probe_returns_the_limit_to_the_cap_not_a_tenth_below_it() -> None:
    """Held at 64: three round trips of answers at full use (191 of 192) keep it; the
    192nd probes 65; the probe's 529 brings it back to 64 (a ratio cut made it 58, and it
    climbed back one per round trip)."""
    limit = held_at_64()
    assert answered(limit, 2.0, inflight=64, count=191) == 64
    assert answered(limit, 2.0, inflight=64) == 65
    assert refused(limit, 2.01, inflight=65) == 64
    assert answered(limit, 3.0, inflight=64, count=191) == 64
    assert answered(limit, 3.0, inflight=64) == 65


def test_answers_while_the_pool_is_not_full_do_not_count_towards_a_probe() -> None:
    limit = held_at_64()
    assert answered(limit, 2.0, inflight=40, count=1000) == 64


def test_a_probe_that_succeeds_returns_to_slow_start() -> None:
    """The cap rose: the probe call (65 in flight, sent after the cut) is answered, and
    from then each answer adds one, as before the first 529."""
    limit = held_at_64()
    answered(limit, 2.0, inflight=64, count=192)
    assert answered(limit, 3.0, inflight=65) == 66
    assert answered(limit, 3.0, inflight=66) == 67
    assert limit.in_slow_start


def test_after_a_search_the_next_529_sets_the_new_level() -> None:
    """Room found, slow start to 80; the 81st call is refused: held at 80."""
    limit = held_at_64()
    answered(limit, 2.0, inflight=64, count=192)
    answered(limit, 3.0, inflight=65)
    limit.raise_to(85)
    assert refused(limit, 3.5, inflight=81) == 80
    assert answered(limit, 4.5, inflight=80, count=3 * 80 - 1) == 80
    assert answered(limit, 4.5, inflight=80) == 81


def test_an_idle_worker_goes_back_to_the_cap_it_learned_not_the_room_it_found_since() -> None:
    """Held at 64; the others drain, so calls above it succeed and it climbs to 67. With
    nothing in flight it goes back to 64, held (a probe every 3 round trips), so the
    next job does not start above its part of the cap."""
    limit = held_at_64()
    answered(limit, 2.0, inflight=64, count=192)
    answered(limit, 3.0, inflight=65)
    answered(limit, 3.0, inflight=66)
    assert limit.limit == 67
    assert limit.on_idle() == 64
    assert not limit.in_slow_start
    assert answered(limit, 5.0, inflight=64, count=191) == 64
    assert answered(limit, 5.0, inflight=64) == 65


def test_the_529_that_ends_a_search_is_not_the_level_idle_goes_back_to() -> None:
    """Held at 64, room found (the others drained), the search refused at the 100th
    call: held at 99 for the rest of the job, back to 64 when idle."""
    limit = held_at_64()
    answered(limit, 2.0, inflight=64, count=192)
    answered(limit, 3.0, inflight=65)
    limit.raise_to(105)
    assert refused(limit, 3.5, inflight=100) == 99
    assert limit.on_idle() == 64


def test_idle_changes_nothing_before_a_529_or_at_the_learned_cap() -> None:
    fresh = aimd()
    fresh.raise_to(40)
    assert fresh.on_idle() == 40
    held = held_at_64()
    assert held.on_idle() == 64


def test_answers_of_calls_sent_before_the_cut_are_not_taken_for_room() -> None:
    """Calls granted at 70 in flight before the cut to 64 come back after it: no room."""
    limit = held_at_64()
    assert limit.on_sample(now=1.0, rtt=1.0, inflight=70, dropped=False) == 64
    assert not limit.in_slow_start


def test_a_529_no_probe_of_ours_explains_cuts_by_the_ratio() -> None:
    """At the held level (another worker took the slot, or the API is overloaded): 64 ->
    57, then 51 a window later, as AIMD cuts."""
    limit = held_at_64()
    answered(limit, 1.5, inflight=64, count=10)
    assert refused(limit, 2.0, inflight=64) == 57
    answered(limit, 2.5, inflight=57, count=10)
    assert refused(limit, 3.0, inflight=57) == 51


def test_529s_of_calls_sent_before_the_cut_do_not_cut_again() -> None:
    limit = held_at_64()
    assert limit.on_sample(now=0.5, rtt=0.2, inflight=64, dropped=True, overloaded=True) == 64


def test_a_429_or_a_timeout_still_cuts_by_the_ratio_and_ends_the_hold() -> None:
    limit = held_at_64()
    assert limit.on_sample(now=2.0, rtt=0.01, inflight=64, dropped=True) == 57
    assert answered(limit, 3.0, inflight=57, count=57) == 58  # one per round trip again


def test_probe_rounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CapHold(0)


def test_one_worker_holds_a_cap_of_64_with_half_a_percent_refused() -> None:
    """Endless backlog, 60 s: the server's calls in flight average 64.0 after the first
    5 s (61.1 with the ratio cut) and 0.55 % of requests are 529s."""
    run = run_cap([aimd()], cap=64, until=60.0)
    assert run.mean_inflight >= 63.8
    assert run.refused_share <= 0.007


def test_three_workers_hold_one_shared_cap_of_64_without_sawing() -> None:
    """64.0 in flight on average (62.6 with the ratio cut), 529s 1.6 % of requests, also
    when a call reaches the server a few ms after its slot was granted (others' calls
    can take a slot an answer freed meanwhile)."""
    for gap in (0.0, 0.003):
        run = run_cap([aimd(), aimd(), aimd()], cap=64, until=60.0, gap=gap)
        assert run.mean_inflight >= 63.5
        assert run.refused_share <= 0.018


def test_a_job_of_500_behind_the_blind_ramp_ends_in_the_eighth_round_trip() -> None:
    """500 calls at a cap of 64 take 8 round trips: the ramp (4 calls doubling every
    0.1 s) fills the cap by 0.4 s, the hold keeps it full, and the last answer comes at
    about 8.4 s (9.0 s with the ratio cut: a ninth round trip for the calls it left out)."""
    run = run_cap([aimd()], cap=64, backlog=[500], until=60.0, ramp=(4, 0.1))
    assert run.done == [500]
    assert max(run.finished_at) < 8.6
    assert run.refused <= 3


def test_room_a_finished_worker_leaves_is_taken_by_the_others() -> None:
    """Backlogs 60, 300 and 300: the first worker is done at about 3 s and the others'
    probes find its room; the job ends at 12.0 s (13.0 s with the ratio cut)."""
    limits = [aimd(), aimd(), aimd()]
    run = run_cap(limits, cap=64, backlog=[60, 300, 300], until=60.0, ramp=(4, 0.1))
    assert run.done == [60, 300, 300]
    assert max(run.finished_at) < 12.5
