"""The core depends on the broker-neutral ports, never on aiokafka."""

from __future__ import annotations

import subprocess
import sys

_CORE = ("stream.processor", "stream.handler", "stream.results", "stream.dlq.records")


def test_importing_the_core_loads_no_kafka_client() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in _CORE)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiokafka', 'kafka')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
