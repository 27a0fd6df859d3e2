"""The Helm chart lints and renders with the real helm binary, and the manifests are right."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import typer.main
import yaml

from broker_plugin.health import LIVENESS_TIMEOUT_ENV
from broker_plugin.http_server import DEFAULT_METRICS_PORT
from tests.helm_support import CHART, PROJECT_ROOT, by_kind, go_tool, helm_template, one, render

# A cold cache builds helm from the Go module proxy first (a few minutes; default timeout).

NON_DEFAULT = {
    "replicaCount": 2,
    "kafka": {
        "partitions": 12,
        "inputTopics": ["lsst-alerts", "ztf-alerts"],
        "settings": {"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512"},
        "sasl": {"enabled": True, "existingSecret": "kafka-creds"},
        "schemaRegistryUrl": "http://registry:8081",
    },
    "model": {"source": "volume", "volume": {"persistentVolumeClaim": {"claimName": "models"}}},
    "autoscaling": {"enabled": True, "kind": "keda", "maxReplicas": 12},
    "metrics": {"port": 9200, "serviceMonitor": {"release": "prom-main"}},
    "commonLabels": {"team": "astro"},
}


@pytest.fixture(scope="module")
def helm() -> Path:
    return go_tool("helm")


@pytest.fixture(scope="module")
def values_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("values") / "values.yaml"
    path.write_text(yaml.safe_dump(NON_DEFAULT))
    return path


@pytest.fixture(scope="module")
def default(helm) -> list[dict]:
    return render(helm)


@pytest.fixture(scope="module")
def custom(helm, values_file) -> list[dict]:
    return render(helm, "-f", str(values_file))


def container(manifests: list[dict]) -> dict:
    return one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_lint_strict_default(helm) -> None:
    """helm lint --strict passes with the default values."""
    result = subprocess.run([str(helm), "lint", "--strict", str(CHART)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_strict_non_default(helm, values_file) -> None:
    """helm lint --strict passes with SASL, KEDA and a model volume switched on."""
    result = subprocess.run([str(helm), "lint", "--strict", str(CHART), "-f", str(values_file)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_kinds(default) -> None:
    """Defaults render the service, its monitoring and its disruption budget."""
    kinds = sorted(m["kind"] for m in default)
    assert kinds == sorted(["ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget",
                            "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"])


def test_autoscaling_kinds(helm, custom) -> None:
    """KEDA renders a ScaledObject per input topic; kind=hpa renders an HPA on lag instead."""
    scaled = one(custom, "ScaledObject")
    assert [t["metadata"]["topic"] for t in scaled["spec"]["triggers"]] == [
        "lsst-alerts", "ztf-alerts"]
    assert scaled["spec"]["maxReplicaCount"] <= NON_DEFAULT["kafka"]["partitions"]
    assert "replicas" not in one(custom, "Deployment")["spec"]
    hpa = one(render(helm, "--set", "autoscaling.enabled=true,autoscaling.kind=hpa"),
              "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == (
        "broker_plugin_consumer_lag_messages")


def test_probes_hit_the_health_endpoints(default) -> None:
    """Liveness/readiness probe /healthz and /readyz on the container's metrics port."""
    c = container(default)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["ports"] == [{"name": "metrics", "containerPort": DEFAULT_METRICS_PORT,
                           "protocol": "TCP"}]


def test_metrics_port_matches_the_plugin_default(default) -> None:
    """The Service, container and BROKER_PLUGIN_METRICS_PORT all use the plugin's default."""
    service = one(default, "Service")
    assert service["spec"]["ports"][0]["port"] == DEFAULT_METRICS_PORT
    config = by_kind(default, "ConfigMap")[0]["data"]
    assert config["BROKER_PLUGIN_METRICS_PORT"] == str(DEFAULT_METRICS_PORT)


def test_custom_port_flows_everywhere(custom) -> None:
    """A non-default metrics port reaches the Service, the container and the plugin's env."""
    assert one(custom, "Service")["spec"]["ports"][0]["port"] == 9200
    assert container(custom)["ports"][0]["containerPort"] == 9200
    assert by_kind(custom, "ConfigMap")[0]["data"]["BROKER_PLUGIN_METRICS_PORT"] == "9200"


def test_security_context(default) -> None:
    """Non-root, read-only root filesystem, no privilege escalation, writable /tmp only."""
    pod = one(default, "Deployment")["spec"]["template"]["spec"]
    c = container(default)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/tmp"]
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_graceful_termination_exceeds_liveness_window(default) -> None:
    """Termination grace (finish batch, flush, commit) is longer than a batch may take."""
    pod = one(default, "Deployment")["spec"]["template"]["spec"]
    config = by_kind(default, "ConfigMap")[0]["data"]
    batch_wait_s = int(config["BROKER_PLUGIN_BATCH_WAIT_MS"]) / 1000
    assert pod["terminationGracePeriodSeconds"] >= 30 + batch_wait_s


def test_labels_and_selectors(custom) -> None:
    """Every resource carries the standard labels; selectors match the pod labels."""
    for m in custom:
        labels = m["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "broker-plugin"
        assert labels["app.kubernetes.io/instance"] == "rel"
        assert labels["team"] == "astro"
    deployment = one(custom, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"],
                     one(custom, "Service")["spec"]["selector"],
                     one(custom, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()


def test_service_monitor_release_label_and_target(custom) -> None:
    """The ServiceMonitor has the configured release label and selects the metrics Service."""
    monitor = one(custom, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom-main"
    service = one(custom, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_dashboard_configmap(default) -> None:
    """The dashboard ConfigMap carries grafana_dashboard: "1" and the dashboard file verbatim."""
    dashboards = [m for m in by_kind(default, "ConfigMap")
                  if m["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(dashboards) == 1
    shipped = json.loads((CHART / "dashboards" / "broker-plugin.json").read_text())
    assert json.loads(dashboards[0]["data"]["broker-plugin.json"]) == shipped


def test_credentials_come_from_the_secret(custom) -> None:
    """SASL password/username use secretKeyRef; the ConfigMap holds no credential."""
    env = {e["name"]: e for e in container(custom)["env"]}
    ref = env["BROKER_PLUGIN_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "kafka-creds", "key": "password"}
    assert "$(KAFKA_SASL_USERNAME)" in env["BROKER_PLUGIN_KAFKA_SETTINGS"]["value"]
    config = json.dumps(by_kind(custom, "ConfigMap")[0]["data"]).lower()
    assert "password" not in config and "sasl.username" not in config


def test_credential_in_settings_is_refused(helm) -> None:
    """A password put in kafka.settings fails rendering with a pointer to existingSecret."""
    result = helm_template(helm, "--set", "kafka.settings.sasl\\.password=hunter2", check=False)
    assert result.returncode != 0 and "existingSecret" in result.stderr


def test_replicas_above_partitions_fail(helm) -> None:
    """maxReplicas above the partition count is refused with a clear message."""
    result = helm_template(helm, "--set", "autoscaling.enabled=true,autoscaling.maxReplicas=7,"
                           "kafka.partitions=6", check=False)
    assert result.returncode != 0
    assert "autoscaling.maxReplicas (7) exceeds kafka.partitions (6)" in result.stderr
    result = helm_template(helm, "--set", "replicaCount=3,kafka.partitions=2", check=False)
    assert result.returncode != 0 and "replicaCount (3)" in result.stderr


def test_model_from_volume(custom) -> None:
    """model.source=volume mounts the volume read-only at /models and points the plugin there."""
    pod = one(custom, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "models"}} in pod["volumes"]
    mount = next(m for m in container(custom)["volumeMounts"] if m["name"] == "model")
    assert mount == {"name": "model", "mountPath": "/models", "readOnly": True}
    assert by_kind(custom, "ConfigMap")[0]["data"]["BROKER_PLUGIN_MODEL"] == "/models"


def test_model_from_init_container(helm) -> None:
    """model.source=initContainer copies the model into a shared emptyDir before start."""
    manifests = render(helm, "--set", "model.source=initContainer,"
                       "model.initContainer.image=models:1,model.initContainer.command={cp,-r,/m,/models}")
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["volumeMounts"] == [{"name": "model", "mountPath": "/models"}]
    assert {"name": "model", "emptyDir": {}} in pod["volumes"]


def test_configmap_keys_are_plugin_options(default, custom) -> None:
    """Every BROKER_PLUGIN_* variable the chart sets is an env var the plugin reads."""
    from broker_plugin.cli import app

    run = typer.main.get_command(app).commands["run"]
    known = {p.envvar for p in run.params if p.envvar} | {LIVENESS_TIMEOUT_ENV}
    for manifests in (default, custom):
        keys = set(by_kind(manifests, "ConfigMap")[0]["data"])
        keys |= {e["name"] for e in container(manifests)["env"]
                 if e["name"].startswith("BROKER_PLUGIN_")}
        assert keys <= known, keys - known


def test_dockerfile_is_serving_only() -> None:
    """The image installs no training extra, runs as non-root and exposes the metrics port."""
    text = re.sub(r"#.*", "", (PROJECT_ROOT / "Dockerfile").read_text())
    installs = " ".join(re.findall(r"pip install[^&\n]*", text))
    assert installs and "[" not in installs and "torch" not in installs
    assert "find_spec('torch') is not None" in text  # the build fails if torch sneaks in
    user = re.search(r"^USER (\S+)", text, re.M)
    assert user and not user.group(1).startswith(("root", "0"))
    assert re.search(rf"^EXPOSE {DEFAULT_METRICS_PORT}$", text, re.M)
