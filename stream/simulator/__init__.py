"""A local Anthropic Messages API server for the demo, the tests and the benchmarks.

The official ``anthropic`` SDK talks to it unmodified through ``base_url``. It answers
with deterministic, clearly marked text (``"[simulated] ..."``), enforces RPM / ITPM /
OTPM token buckets and a concurrency cap with the real headers and error bodies, and
misbehaves on request: ``[[sim:NAME]]`` markers in a prompt, or ``POST /admin/faults``.
"""

from stream.simulator.config import ScheduleStep, SimulatorConfig, format_schedule, parse_schedule
from stream.simulator.faults import DELIVERY_FAULTS, ERROR_FAULTS, FAULT_MODES
from stream.simulator.process import SimulatorProcess
from stream.simulator.server import SimulatorServer, admin_call

__all__ = [
    "DELIVERY_FAULTS",
    "ERROR_FAULTS",
    "FAULT_MODES",
    "ScheduleStep",
    "SimulatorConfig",
    "SimulatorProcess",
    "SimulatorServer",
    "admin_call",
    "format_schedule",
    "parse_schedule",
]
