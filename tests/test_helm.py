"""The Helm chart lints and renders with the real helm binary, and the manifests are right."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import typer.main
import yaml

from broker_plugin.default_model import DEFAULT_MODEL_DIR
from broker_plugin.health import LIVENESS_TIMEOUT_ENV
from broker_plugin.http_server import DEFAULT_METRICS_PORT
from tests.helm_support import (
    BASELINE,
    CHART,
    DOCKERFILE,
    PROJECT_ROOT,
    arg_refs,
    by_kind,
    copy_sources,
    dockerfile_instructions,
    dockerignored,
    expand_args,
    go_tool,
    helm_template,
    one,
    render,
)

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
    "metrics": {"port": 9200, "prometheusRelease": "prom-main"},
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
    """helm lint --strict passes with the default values and a schema registry."""
    result = subprocess.run([str(helm), "lint", "--strict", str(CHART), *BASELINE],
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


def test_autoscaling_with_keda(custom) -> None:
    """Autoscaling renders a KEDA ScaledObject with one Kafka trigger per input topic."""
    scaled = one(custom, "ScaledObject")
    assert [t["metadata"]["topic"] for t in scaled["spec"]["triggers"]] == [
        "lsst-alerts", "ztf-alerts"]
    assert scaled["spec"]["maxReplicaCount"] <= NON_DEFAULT["kafka"]["partitions"]
    assert "replicas" not in one(custom, "Deployment")["spec"]
    assert not by_kind(custom, "HorizontalPodAutoscaler")


def test_hpa_mode_is_gone(helm) -> None:
    """autoscaling.kind=hpa (removed) fails with one line; the old default `keda` still renders."""
    result = helm_template(helm, "--set", "autoscaling.enabled=true,autoscaling.kind=hpa",
                           check=False)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if "autoscaling.kind" in line]
    assert len(message) == 1 and "removed" in message[0] and "KEDA" in message[0]
    manifests = render(helm, "--set", "autoscaling.enabled=true,autoscaling.kind=keda")
    assert one(manifests, "ScaledObject") and not by_kind(manifests, "HorizontalPodAutoscaler")
    assert "HorizontalPodAutoscaler" not in "".join(
        path.read_text() for path in (CHART / "templates").iterdir())


def test_keda_sasl_trigger_authentication(custom) -> None:
    """KEDA + SASL: a TriggerAuthentication reads username/password from kafka.sasl's Secret,
    every trigger references it and carries the mechanism and TLS of the plugin's settings."""
    auth = one(custom, "TriggerAuthentication")
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "username", "name": "kafka-creds", "key": "username"},
        {"parameter": "password", "name": "kafka-creds", "key": "password"},
    ]
    for trigger in one(custom, "ScaledObject")["spec"]["triggers"]:
        assert trigger["type"] == "kafka"
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        # SCRAM-SHA-512 over SASL_SSL, in KEDA's words.
        assert trigger["metadata"]["sasl"] == "scram_sha512"
        assert trigger["metadata"]["tls"] == "enable"


def test_keda_sasl_follows_the_secret_keys_and_mechanism(helm) -> None:
    """Custom Secret keys reach the TriggerAuthentication; PLAIN without TLS maps to plaintext."""
    manifests = render(
        helm, "--set", "autoscaling.enabled=true,kafka.sasl.enabled=true,"
        "kafka.sasl.existingSecret=creds,kafka.sasl.usernameKey=user,kafka.sasl.passwordKey=pass",
        "--set-string", "kafka.settings.sasl\\.mechanism=PLAIN,"
        "kafka.settings.security\\.protocol=SASL_PLAINTEXT")
    refs = one(manifests, "TriggerAuthentication")["spec"]["secretTargetRef"]
    assert {(r["parameter"], r["name"], r["key"]) for r in refs} == {
        ("username", "creds", "user"), ("password", "creds", "pass")}
    trigger = one(manifests, "ScaledObject")["spec"]["triggers"][0]
    assert trigger["metadata"]["sasl"] == "plaintext" and "tls" not in trigger["metadata"]


def test_keda_without_sasl_has_no_trigger_authentication(helm) -> None:
    """No SASL: no TriggerAuthentication and no authenticationRef (a bare TLS listener still
    gets tls: enable)."""
    manifests = render(helm, "--set", "autoscaling.enabled=true")
    assert not by_kind(manifests, "TriggerAuthentication")
    trigger = one(manifests, "ScaledObject")["spec"]["triggers"][0]
    assert "authenticationRef" not in trigger
    assert "sasl" not in trigger["metadata"] and "tls" not in trigger["metadata"]
    manifests = render(helm, "--set", "autoscaling.enabled=true",
                       "--set-string", "kafka.settings.security\\.protocol=SSL")
    assert not by_kind(manifests, "TriggerAuthentication")
    assert one(manifests, "ScaledObject")["spec"]["triggers"][0]["metadata"]["tls"] == "enable"
    # SASL without autoscaling: nothing for KEDA either.
    manifests = render(helm, "--set", "kafka.sasl.enabled=true,kafka.sasl.existingSecret=s")
    assert not by_kind(manifests, "TriggerAuthentication")


def test_keda_own_trigger_authentication(helm, values_file) -> None:
    """autoscaling.kedaAuthenticationRef: the user's TriggerAuthentication carries all of the
    auth (KEDA refuses sasl/tls in both places), so the chart adds none."""
    manifests = render(helm, "-f", str(values_file),
                       "--set", "autoscaling.kedaAuthenticationRef=kafka-oauth")
    assert not by_kind(manifests, "TriggerAuthentication")
    for trigger in one(manifests, "ScaledObject")["spec"]["triggers"]:
        assert trigger["authenticationRef"] == {"name": "kafka-oauth"}
        assert "sasl" not in trigger["metadata"] and "tls" not in trigger["metadata"]


def test_keda_sasl_needs_a_supported_mechanism(helm) -> None:
    """KEDA + SASL with no (or a non-password) mechanism fails, pointing at the two fixes."""
    base = "autoscaling.enabled=true,kafka.sasl.enabled=true,kafka.sasl.existingSecret=s"
    for extra in ("", ",kafka.settings.sasl\\.mechanisms=OAUTHBEARER"):
        result = helm_template(helm, "--set", base + extra, check=False)
        assert result.returncode != 0
        assert "sasl.mechanisms" in result.stderr and "kedaAuthenticationRef" in result.stderr


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


def release_labels(manifests: list[dict]) -> dict[str, str | None]:
    return {kind: one(manifests, kind)["metadata"]["labels"].get("release")
            for kind in ("ServiceMonitor", "PrometheusRule")}


def test_prometheus_rule_has_the_service_monitor_release_label(helm, default, custom) -> None:
    """kube-prometheus-stack selects ServiceMonitors and PrometheusRules by `release`: one
    value (metrics.prometheusRelease) labels both, and changing it changes both."""
    assert release_labels(default) == {"ServiceMonitor": "kube-prometheus-stack",
                                       "PrometheusRule": "kube-prometheus-stack"}
    assert release_labels(custom) == {"ServiceMonitor": "prom-main", "PrometheusRule": "prom-main"}
    other = render(helm, "--set", "metrics.prometheusRelease=monitoring")
    assert release_labels(other) == {"ServiceMonitor": "monitoring", "PrometheusRule": "monitoring"}
    unlabelled = render(helm, "--set", "metrics.prometheusRelease=")
    assert release_labels(unlabelled) == {"ServiceMonitor": None, "PrometheusRule": None}


def test_release_label_has_one_source(helm) -> None:
    """The old metrics.serviceMonitor.release, or a release in the extra labels, is refused
    (it would disagree with metrics.prometheusRelease or duplicate the key)."""
    for setting in ("metrics.serviceMonitor.release=x", "prometheusRule.labels.release=x",
                    "metrics.serviceMonitor.labels.release=x"):
        result = helm_template(helm, "--set", setting, check=False)
        assert result.returncode != 0 and "metrics.prometheusRelease" in result.stderr, setting


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


def test_private_ca_is_mounted_and_named_to_librdkafka(helm) -> None:
    """kafka.tls.caSecret mounts the CA read-only and sets ssl.ca.location to the file;
    caFromConfigMap reads it from a ConfigMap instead."""
    for extra, source in (("", "secret"), (",kafka.tls.caFromConfigMap=true", "configMap")):
        manifests = render(helm, "--set", "kafka.tls.caSecret=kafka-ca,kafka.tls.caKey=ca.pem"
                           + extra)
        pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "kafka-ca")
        name_key = "secretName" if source == "secret" else "name"
        assert volume[source][name_key] == "kafka-ca"
        assert volume[source]["items"] == [{"key": "ca.pem", "path": "ca.pem"}]
        mount = next(m for m in container(manifests)["volumeMounts"] if m["name"] == "kafka-ca")
        assert mount["readOnly"] is True
        env = {e["name"]: e for e in container(manifests)["env"]}
        settings = env["BROKER_PLUGIN_KAFKA_SETTINGS"]["value"]
        assert f"ssl.ca.location={mount['mountPath']}/ca.pem" in settings


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


#: Values under `serving:` that are not one option of `run`, with the reason.
SERVING_VALUES_NOT_OPTIONS = {
    "extraEnv": "extra EnvVar entries for the container (any variable), not one option",
}
#: Values elsewhere that set one option each (the others set required options, which have no
#: default, or credentials and pass-through settings from Secrets and maps).
OTHER_OPTION_VALUES = {
    "kafka.survey": "BROKER_PLUGIN_SURVEY",
    "metrics.port": "BROKER_PLUGIN_METRICS_PORT",
    "probes.livenessTimeoutSeconds": "BROKER_PLUGIN_LIVENESS_TIMEOUT",
}
#: Chart values whose default deliberately differs from the option's: value path -> reason.
DELIBERATE_DIFFERENCES: dict[str, str] = {}


def _chart_value(values: dict, path: str) -> object:
    for part in path.split("."):
        values = values[part]
    return values


def _as_rendered(value: object) -> str:
    """How the ConfigMap writes a value (`quote`; booleans through `ternary "true" "false"`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_chart_values_map_onto_the_declared_options(default, custom) -> None:
    """Each BROKER_PLUGIN_* variable the chart renders is the variable of exactly one option
    declared on ServingConfig; each value under `serving:` (and the few elsewhere that set
    one option) feeds the variable of its name, and its default is the option's default."""
    from broker_plugin.serving.config import ServingConfig

    declared: dict[str, list[str]] = {}
    for option in ServingConfig.options():
        declared.setdefault(option.envvar, []).append(option.name)
    for manifests in (default, custom):
        keys = set(by_kind(manifests, "ConfigMap")[0]["data"])
        keys |= {e["name"] for e in container(manifests)["env"]
                 if e["name"].startswith("BROKER_PLUGIN_")}
        for key in sorted(keys):
            assert len(declared.get(key, [])) == 1, f"{key}: declared by {declared.get(key)}"

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    rendered = by_kind(default, "ConfigMap")[0]["data"]
    by_value = {
        f"serving.{key}": "BROKER_PLUGIN_" + re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()
        for key in values["serving"]
        if key not in SERVING_VALUES_NOT_OPTIONS
    }
    by_value |= OTHER_OPTION_VALUES
    options = {o.envvar: o for o in ServingConfig.options()}
    for path, envvar in by_value.items():
        assert envvar in options, (
            f"{path}: no option has the variable {envvar}; declare one on ServingConfig or "
            "list the value in SERVING_VALUES_NOT_OPTIONS with the reason")
        chart_default = _chart_value(values, path)
        assert rendered.get(envvar) == _as_rendered(chart_default), f"{path} -> {envvar}"
        if path in DELIBERATE_DIFFERENCES:
            assert chart_default != options[envvar].default, f"{path} no longer differs"
            continue
        assert chart_default == options[envvar].default, (
            f"{path}: the chart's default {chart_default!r} is not {options[envvar].flag}'s "
            f"{options[envvar].default!r}; align them or list it in DELIBERATE_DIFFERENCES")


def test_dockerfile_is_serving_only() -> None:
    """The image installs no training extra, runs as non-root and exposes the metrics port."""
    text = re.sub(r"#.*", "", (PROJECT_ROOT / "Dockerfile").read_text())
    installs = " ".join(re.findall(r"pip install[^&\n]*", text))
    assert installs and "[" not in installs and "torch" not in installs
    assert "find_spec('torch') is not None" in text  # the build fails if torch sneaks in
    user = re.search(r"^USER (\S+)", text, re.M)
    assert user and not user.group(1).startswith(("root", "0"))
    assert re.search(rf"^EXPOSE {DEFAULT_METRICS_PORT}$", text, re.M)


def test_docker_build_without_build_args() -> None:
    """`docker build .` with no --build-arg works: every ARG used by FROM/COPY has a default,
    every COPY source exists and is in the build context (.dockerignore), and MODEL_DIR's
    default is the package's shipped model (model.onnx + model_card.json)."""
    instructions = dockerfile_instructions()
    copies = 0
    for ins in instructions:
        if ins.keyword in ("RUN", "CMD", "ENTRYPOINT"):
            continue  # `$` there is the shell's
        for name in arg_refs(ins.args):
            assert ins.scope.get(name), f"{ins.keyword} {ins.args}: ARG {name} has no default"
        if ins.keyword not in ("COPY", "ADD"):
            continue
        sources = copy_sources(ins)
        if sources is None:
            continue  # COPY --from=stage
        for source in sources:
            rel = expand_args(source, ins.scope).rstrip("/")
            assert (PROJECT_ROOT / rel).exists(), f"COPY {source}: {rel} is not in the repository"
            assert not dockerignored(rel), f"COPY {source}: .dockerignore leaves {rel} out"
            copies += 1
    assert copies >= 5
    model_dir = next(ins.scope["MODEL_DIR"] for ins in instructions
                     if ins.keyword == "COPY" and "MODEL_DIR" in arg_refs(ins.args))
    assert (PROJECT_ROOT / model_dir).resolve() == DEFAULT_MODEL_DIR
    for name in ("model.onnx", "model_card.json"):
        path = f"{model_dir}/{name}"
        assert (PROJECT_ROOT / path).is_file() and not dockerignored(path), path
    assert not (PROJECT_ROOT / model_dir / "model.onnx").read_bytes().startswith(b"version https")
    json.loads((PROJECT_ROOT / model_dir / "model_card.json").read_text())
    # The documented alternative (MODEL_DIR=helm/no-model) is in the context too.
    assert not dockerignored("helm/no-model/README.md")


def test_dockerignore_matcher(tmp_path) -> None:
    """The .dockerignore reading used above follows Docker's rules (parents match, `**` spans
    any depth including none, the last matching pattern wins, `!` puts paths back)."""
    rules = tmp_path / ".dockerignore"
    rules.write_text("# comment\n**/*.onnx\n!keep/**\n*.json\n/docs/\n")
    assert dockerignored("m.onnx", rules) and dockerignored("a/b/m.onnx", rules)
    assert not dockerignored("keep/x/m.onnx", rules)
    assert dockerignored("c.json", rules) and not dockerignored("a/c.json", rules)
    assert dockerignored("docs/x/y.md", rules) and not dockerignored("a/docs/y.md", rules)
    assert dockerignored("tests/test_helm.py") and dockerignored("helm/broker-plugin/values.yaml")
    assert dockerignored(".git/config") and dockerignored("broker_plugin/__pycache__/x.pyc")
    assert dockerignored("selfreg_varstars.egg-info/PKG-INFO")
    assert not dockerignored("broker_plugin/_model/model.onnx")
    assert not dockerignored("helm/no-model") and not dockerignored("helm/no-model/README.md")
    assert DOCKERFILE.is_file()


def test_lsst_without_a_schema_source_fails_like_the_plugin(helm) -> None:
    """Defaults (survey lsst) with no registry and no schema folder: the plugin's own line."""
    from broker_plugin.serving.config import NO_SCHEMA_SOURCE

    result = helm_template(helm, "--set", "kafka.schemaRegistryUrl=", check=False)
    assert result.returncode != 0 and NO_SCHEMA_SOURCE in result.stderr
    ztf = render(helm, "--set", "kafka.schemaRegistryUrl=,kafka.survey=ztf")
    assert by_kind(ztf, "ConfigMap")[0]["data"]["BROKER_PLUGIN_SURVEY"] == "ztf"


def test_unknown_schema_ids_count_towards_the_failing_alert() -> None:
    """A dead letter for an unknown schema id is a failure (alerts_failed_total), which the
    BrokerPluginAlertsFailing rule watches; too-few-points dead letters are not."""
    from broker_plugin.rejections import NOT_FAILURES, Reason

    rules = (CHART / "templates" / "prometheusrule.yaml").read_text()
    assert Reason.UNKNOWN_SCHEMA not in NOT_FAILURES
    assert "BrokerPluginAlertsFailing" in rules and "broker_plugin_alerts_failed_total" in rules


def test_model_version_annotates_the_pods(helm) -> None:
    """model.version lands on the pod template (a new version rolls the pods)."""
    pod = one(render(helm, "--set", "model.version=2026.12.07+1a2b3c4d"), "Deployment")
    annotations = pod["spec"]["template"]["metadata"]["annotations"]
    assert annotations["selfreg-varstars/model-version"] == "2026.12.07+1a2b3c4d"
    plain = one(render(helm), "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "selfreg-varstars/model-version" not in plain


def test_exactly_once_gives_each_pod_its_own_transactional_id(helm) -> None:
    """Replicas sharing one transactional id would fence each other: the pod name is it."""
    env = container(render(helm, "--set", "serving.exactlyOnce=true"))["env"]
    ids = [e for e in env if e["name"] == "BROKER_PLUGIN_TRANSACTIONAL_ID"]
    assert ids and ids[0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    plain = container(render(helm))["env"]
    assert not [e for e in plain if e["name"] == "BROKER_PLUGIN_TRANSACTIONAL_ID"]
