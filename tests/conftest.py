"""Shared fixtures. Broker selection lives in tests/fixtures/broker.py, the Messages API
simulator in tests/fixtures/simulator.py."""

pytest_plugins = ["tests.fixtures.broker", "tests.fixtures.simulator"]
