"""Smoke test of ``docstream bench coldstart``: one real cold start, phases add up."""

from __future__ import annotations

import pytest

from stream.bench.coldstart import measure_cold_start

pytestmark = pytest.mark.timeout(120)


def test_cold_start_phases_are_measured_in_order_and_add_up(
    kafka_bootstrap: str, kafka_profile: str
) -> None:
    """A real `docstream run` over one document: set-up, join and first call are each
    seen, and together they are the time to the first call (never compared to a bound)."""
    if kafka_profile != "embedded":
        pytest.skip("the cold-start benchmark runs the worker with the embedded profile")
    cold = measure_cold_start(kafka_bootstrap, 2000)
    phases = cold.spawn_to_subscribed_s + cold.subscribed_to_assigned_s
    assert phases + cold.assigned_to_first_call_s == pytest.approx(
        cold.spawn_to_first_call_s, abs=0.002
    )
    assert cold.spawn_to_subscribed_s > 0 and cold.subscribed_to_assigned_s > 0
    assert cold.spawn_to_first_call_s <= cold.spawn_to_exit_s


def test_a_restart_with_an_instance_id_is_timed_on_the_group_the_first_run_used(
    kafka_bootstrap: str, kafka_profile: str
) -> None:
    """`--restarts`: the timed run is the second on its group, with the group instance id
    given by the environment; its phases are measured like a cold start's."""
    if kafka_profile != "embedded":
        pytest.skip("the cold-start benchmark runs the worker with the embedded profile")
    cold = measure_cold_start(kafka_bootstrap, 2000, restart=True, instance_id="smoke-0")
    assert cold.start == "static restart"
    phases = cold.spawn_to_subscribed_s + cold.subscribed_to_assigned_s
    assert phases + cold.assigned_to_first_call_s == pytest.approx(
        cold.spawn_to_first_call_s, abs=0.002
    )
    assert cold.subscribed_to_assigned_s > 0
