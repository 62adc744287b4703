"""The limit schedule: parsing, and limits changing at the right moments (injected clock)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.simulator.config import (
    ScheduleStep,
    SimulatorConfig,
    format_schedule,
    parse_schedule,
)
from stream.simulator.server import SimulatorServer
from stream.simulator.state import SimState
from tests.simulator.helpers import ManualClock, ask, sdk


def test_parse_schedule_bare_numbers_set_rpm() -> None:
    """ "0:3000,30:1200,60:3000" is three rpm steps."""
    assert parse_schedule("0:3000,30:1200,60:3000") == (
        ScheduleStep(0.0, (("rpm", 3000),)),
        ScheduleStep(30.0, (("rpm", 1200),)),
        ScheduleStep(60.0, (("rpm", 3000),)),
    )


def test_parse_schedule_named_fields_continue_the_previous_step() -> None:
    """A piece without a time adds to the step before it; aliases and none are accepted."""
    steps = parse_schedule("30:rpm=1200,itpm=none,latency=1.5, 10:concurrency=8")
    assert steps == (
        ScheduleStep(10.0, (("max_concurrency", 8),)),
        ScheduleStep(30.0, (("rpm", 1200), ("itpm", None), ("base_latency_s", 1.5))),
    )


@pytest.mark.parametrize(
    "text",
    ["rpm=5", "x:100", "10:bogus=1", "10:rpm=-3", "10:rpm=1.5", "10:jitter=2", "10:latency=none"],
)
def test_parse_schedule_rejects_bad_input_with_value_error(text: str) -> None:
    """Typos and impossible values are refused with a message, never ignored."""
    with pytest.raises(ValueError):
        parse_schedule(text)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.sampled_from(["rpm", "itpm", "otpm", "max_concurrency"]),
            st.one_of(st.none(), st.integers(1, 10**6)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_format_schedule_round_trips_through_parse(
    raw: list[tuple[int, str, int | None]],
) -> None:
    """format_schedule is the inverse of parse_schedule (how a schedule reaches a child)."""
    text = ",".join(f"{t}:{name}={'none' if v is None else v}" for t, name, v in raw)
    steps = parse_schedule(text)
    assert parse_schedule(format_schedule(steps)) == steps


def test_state_applies_schedule_steps_when_their_time_comes() -> None:
    """At t=30 the rpm bucket shrinks to 1200; at t=60 it is 3000 again (clock injected)."""
    clock = ManualClock()
    config = SimulatorConfig(rpm=3000, schedule=parse_schedule("30:1200,60:rpm=3000,otpm=9000"))
    state = SimState(config, clock, lambda: 0.0)
    state.begin()
    state.refresh(clock())
    assert state.limiter.limits()["rpm"] == 3000
    clock.advance(29.999)
    state.refresh(clock())
    assert state.limiter.limits()["rpm"] == 3000
    clock.advance(0.001)
    state.refresh(clock())
    assert state.limiter.limits()["rpm"] == 1200
    assert state.tunables["rpm"] == 1200
    clock.advance(30)
    state.refresh(clock())
    assert state.limiter.limits() == {"rpm": 3000, "itpm": None, "otpm": 9000}


async def test_server_headers_follow_the_schedule(
    simulator_factory: Callable[..., Awaitable[SimulatorServer]],
) -> None:
    """Over HTTP: the requests-limit header changes when the injected clock passes a step."""
    clock = ManualClock()
    server = await simulator_factory(rpm=600, schedule=parse_schedule("10:60"), now=clock)
    async with sdk(server.base_url) as client:
        before = await client.messages.with_raw_response.create(**ask("one"))
        clock.advance(10)
        after = await client.messages.with_raw_response.create(**ask("two"))
    assert before.headers["anthropic-ratelimit-requests-limit"] == "600"
    assert after.headers["anthropic-ratelimit-requests-limit"] == "60"
    assert after.headers["anthropic-ratelimit-requests-remaining"] == "59"
    assert server.stats()["limits"]["rpm"] == 60


@pytest.mark.parametrize(
    "fields",
    [
        {"out_min": 10, "out_max": 5},
        {"jitter": 2.0},
        {"rpm": 0},
        {"port": 70_000},
        {"schedule": (ScheduleStep(5.0, (("rpm", -1),)),)},
        {"schedule": (ScheduleStep(5.0, (("warp", 1),)),)},
    ],
)
def test_config_rejects_impossible_values(fields: dict[str, object]) -> None:
    """SimulatorConfig refuses values it could not honour, including hand-built steps."""
    with pytest.raises(ValueError):
        SimulatorConfig(**fields)  # type: ignore[arg-type]
