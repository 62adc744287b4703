"""OpenTelemetry for docstream: one trace per document, GenAI and messaging conventions.

Layout (only ``setup`` touches the OTel SDK; everything else is API-only, so with the
default exporter ``none`` every call is a cheap no-op):

- ``providers``   where our tracer/meter come from (an indirection, so tests and setup can
                  point it at explicit providers instead of the set-once global ones)
- ``setup``       ``configure_telemetry(settings)`` / ``install_in_memory()``
- ``propagation`` W3C ``traceparent``/``tracestate`` in Kafka record headers
- ``tracing``     ``send_span`` / ``process_span`` / ``wait_span`` / ``chat_span``
- ``genai``       the ``chat <model>`` span and its result/usage attributes
- ``metrics``     ``Metrics``: counters, gauges and histograms for the worker

``setup`` is not imported here on purpose: importing the package must not pull in the SDK.
"""

from __future__ import annotations

__all__: list[str] = []
