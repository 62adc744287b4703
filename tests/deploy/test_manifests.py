"""The rendered deploy manifests agree with how docstream reads its configuration."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.deploy.manifests import (
    by_kind,
    compose_services,
    container_env,
    pod_containers,
    render_k8s,
)

# The collector's standard ports (the OTLP specification) and the protocol each speaks.
_OTLP_PORT_PROTOCOL = {4317: "grpc", 4318: "http/protobuf"}
_DEFAULT_PROTOCOL = "http/protobuf"  # what the exporters use when none is said


def _protocol_matches_port(env: dict[str, str]) -> tuple[int | None, str]:
    endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    port = urlsplit(endpoint).port
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", _DEFAULT_PROTOCOL)
    return port, protocol


def test_k8s_otlp_endpoint_and_protocol_agree() -> None:
    """Port 4317 is gRPC: without OTEL_EXPORTER_OTLP_PROTOCOL=grpc every span was lost."""
    checked = 0
    for workload in by_kind(render_k8s(), "Deployment"):
        for container in pod_containers(workload):
            env = container_env(container)
            if "OTEL_EXPORTER_OTLP_ENDPOINT" not in env:
                continue
            port, protocol = _protocol_matches_port(env)
            assert port in _OTLP_PORT_PROTOCOL, f"{container['name']}: port {port}"
            assert _OTLP_PORT_PROTOCOL[port] == protocol, (container["name"], port, protocol)
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize("service", ["worker", "publish", "topics"])
def test_compose_otlp_endpoint_and_protocol_agree(service: str) -> None:
    env = compose_services()[service]["environment"]
    port, protocol = _protocol_matches_port(env)
    assert port in _OTLP_PORT_PROTOCOL and _OTLP_PORT_PROTOCOL[port] == protocol
