"""Shared fixtures. Broker selection lives in tests/fixtures/broker.py, the Messages API
simulator in tests/fixtures/simulator.py.

Hypothesis profiles: ``ci`` (the default) is derandomized, so every run of the suite tries
the same examples and a red CI run is reproducible; ``fuzz`` (``make fuzz``) explores with
many more random examples. Failures found by fuzzing become explicit ``@example`` cases.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=5_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["tests.fixtures.broker", "tests.fixtures.simulator"]
