"""The rendered deploy manifests agree with how docstream reads its configuration."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from stream.config import load_settings
from tests.deploy.manifests import (
    COMPOSE,
    ROOT,
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


# -- schemas ---------------------------------------------------------------------------


def test_rendered_k8s_manifests_pass_kubernetes_validate_strict(tmp_path: Path) -> None:
    """Offline (the package ships the schemas); unknown fields are errors. Only KEDA's
    ScaledObject, a CRD, has no built-in schema: it is checked field by field below."""
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(render_k8s()))
    done = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    warnings = [line for line in output.splitlines() if line.startswith("WARN")]
    assert all("kind ScaledObject with api version keda.sh/v1alpha1" in w for w in warnings)
    assert output.count("passed for resource") == len(render_k8s()) - 1


def test_compose_file_matches_the_compose_spec_schema() -> None:
    schema = json.loads((ROOT / "deploy" / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(COMPOSE.read_text()))]
    assert errors == []


# -- pod security, images --------------------------------------------------------------


def test_worker_pods_meet_pod_security_restricted() -> None:
    objects = render_k8s()
    namespace = by_kind(objects, "Namespace")[0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in by_kind(objects, "Deployment"):
        pod = workload["spec"]["template"]["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert isinstance(pod["runAsUser"], int) and pod["runAsUser"] > 0
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod_containers(workload):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "add" not in sc["capabilities"]


def _pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def test_every_image_is_pinned_to_a_version_tag() -> None:
    images = [c["image"] for w in by_kind(render_k8s(), "Deployment") for c in pod_containers(w)]
    images += [s["image"] for s in compose_services().values() if "image" in s]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    images += re.findall(r"^FROM (\S+)", dockerfile, flags=re.M)
    assert images and [i for i in images if not _pinned(i)] == []


# -- probes and autoscaling ------------------------------------------------------------


def _worker() -> dict[str, Any]:
    (workload,) = by_kind(render_k8s(), "Deployment")
    (container,) = pod_containers(workload)
    return container


def test_probes_reach_the_worker_http_port() -> None:
    """Liveness and readiness GET the port `run --http-port` serves."""
    container = _worker()
    args = container["args"]
    http_port = int(args[args.index("--http-port") + 1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == http_port


def test_scaled_object_scales_the_worker_on_its_group_and_input_topic() -> None:
    objects = render_k8s()
    (scaled,) = by_kind(objects, "ScaledObject")
    (deployment,) = by_kind(objects, "Deployment")
    (configmap,) = by_kind(objects, "ConfigMap")
    kafka = yaml.safe_load(configmap["data"]["docstream.yaml"])["kafka"]
    spec = scaled["spec"]
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert spec["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]  # KEDA owns it
    assert meta["bootstrapServers"] == kafka["bootstrap_servers"]
    assert meta["consumerGroup"] == kafka["group_id"]
    assert meta["topic"] == kafka["topics"]["input"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["maxReplicaCount"] == kafka["topics"]["partitions"]
    assert int(meta["lagThreshold"]) > 0 and meta["allowIdleConsumers"] == "false"


def test_the_worker_config_is_valid_settings_and_shares_the_account_by_backlog(
    tmp_path: Path,
) -> None:
    """The ConfigMap's docstream.yaml loads as Settings (a misspelt field stops a
    worker at start), and the replicas KEDA runs share one account by their backlogs."""
    (configmap,) = by_kind(render_k8s(), "ConfigMap")
    path = tmp_path / "docstream.yaml"
    path.write_text(configmap["data"]["docstream.yaml"], encoding="utf-8")
    settings = load_settings(path)
    assert settings.limits.backlog_board
