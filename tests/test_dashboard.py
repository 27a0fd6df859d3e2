"""The Grafana dashboard and the alert rules: valid JSON, PromQL that parses (real promtool),
and queries that return data when evaluated on real scrapes of a running plugin's /metrics."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from broker_plugin.drift import DriftMonitor, reference_statistics
from broker_plugin.features import featurise_segments
from broker_plugin.health import Health
from broker_plugin.http_server import start_http_server
from broker_plugin.metrics import PluginMetrics
from tests.helm_support import CHART, go_tool, one, render

# A cold cache builds helm/promtool from the Go module proxy first (minutes).
pytestmark = pytest.mark.timeout(2400)

DASHBOARD = CHART / "dashboards" / "broker-plugin.json"
JOB, NAMESPACE = "rel-broker-plugin-metrics", "astro"
CLASSES = ["CEP", "DSCT", "ECL", "LPV", "RRLYR"]
STEP_MINUTES = 5  # one scrape = 5 minutes of promtool time
GRAFANA_VARS = {"$__rate_interval": "10m", "$namespace": NAMESPACE, "$job": JOB}


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expression with Grafana variables substituted)."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    out = []
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            out.append((panel["title"], expr))
    return out


@pytest.fixture(scope="module")
def promtool() -> Path:
    return go_tool("promtool")


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    """The PrometheusRule the chart renders, as a Prometheus rule file."""
    rule = one(render(go_tool("helm")), "PrometheusRule")
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def run_promtool(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_dashboard_json_is_well_formed() -> None:
    """The dashboard loads, panel ids are unique and every graph panel has a query."""
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    graphs = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p.get("targets") and p.get("description") for p in graphs)
    titles = " ".join(p["title"].lower() for p in graphs)
    for topic in ("throughput", "latency", "lag", "dead letters", "class mix", "confidence",
                  "psi", "ks", "jensen"):
        assert topic in titles, topic


def test_rules_pass_promtool_check(promtool, rules_file) -> None:
    """promtool check rules accepts the rendered PrometheusRule."""
    result = run_promtool(promtool, "check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_parse(promtool, tmp_path) -> None:
    """Every dashboard expression parses with Prometheus's own parser (as recording rules)."""
    rules = [{"record": f"dashboard:panel_{i}", "expr": e}
             for i, (_, e) in enumerate(dashboard_exprs())]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_broken_promql(promtool, tmp_path) -> None:
    """The check can fail: a malformed expression is refused."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "r", "expr": "sum(rate(broker_plugin_alerts_consumed_total[5m])"}]}]}))
    assert run_promtool(promtool, "check", "rules", str(path)).returncode != 0


def _stream_scrapes(n_batches: int, drifted: bool, poison_every: int) -> list[dict[str, float]]:
    """Run a real batch flow (featuriser → onnxruntime → metrics, drift, health) behind the real
    HTTP server and scrape /metrics after each batch: {series string: value} per scrape."""
    import onnxruntime as ort

    from tests.model_fixture import build_onnx

    rng = np.random.default_rng(3)
    tmp = Path(__import__("tempfile").mkdtemp())
    session = ort.InferenceSession(str(build_onnx(tmp / "m.onnx")),
                                   providers=["CPUExecutionProvider"])

    def curves(n: int, noise: float) -> tuple:
        sizes = rng.integers(20, 200, n)
        t = np.cumsum(rng.exponential(1.0, int(sizes.sum())))
        m = 15 + 0.5 * np.sin(t) + rng.normal(0, noise, t.size)
        batch = featurise_segments(t, m, sizes)
        return batch, session.run(["probabilities"], {"x": batch.x})[0], sizes

    ref_batch, ref_probabilities, ref_sizes = curves(600, 0.02)
    reference = reference_statistics(ref_batch, ref_probabilities, CLASSES,
                                     points_per_band=ref_sizes)
    metrics = PluginMetrics(model_name="fixture", model_version="0.1", classes=CLASSES)
    drift = DriftMonitor(reference, window=400, min_window=100, registry=metrics.registry)
    health = Health()
    health.model_loaded("0.1")
    health.consumer_running(True)
    scrapes = []
    per_batch, remaining = 150, 150 * n_batches
    with start_http_server(0, metrics.registry, health, addr="127.0.0.1") as server:
        for _ in range(n_batches):
            health.tick()
            metrics.consumed(per_batch, "lsst-alerts")
            n_bad = per_batch // poison_every if poison_every else 0
            with metrics.stage("features"):
                batch, _, sizes = curves(per_batch - n_bad, 0.3 if drifted else 0.02)
            if n_bad:
                metrics.dead_lettered("bad_magic_byte", n_bad)
                metrics.failed("AvroError", 1)
            with metrics.stage("inference"):
                probabilities = session.run(["probabilities"], {"x": batch.x})[0]
            metrics.classified(probabilities)
            alert_mjd = 60000.0 + rng.random(len(probabilities))
            metrics.end_to_end(alert_mjd, published_unix=(60001.0 - 40587.0) * 86400 + 60.0)
            drift.update(batch, probabilities, points_per_band=sizes)
            metrics.batch(per_batch)
            remaining -= per_batch
            metrics.set_consumer_lag([("lsst-alerts", 0, remaining // 2),
                                      ("lsst-alerts", 1, remaining - remaining // 2)])
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as r:
                text = r.read().decode()
            scrapes.append(_samples(text))
    return scrapes


def _samples(text: str) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            labels = {**s.labels, "job": JOB, "namespace": NAMESPACE}
            body = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
            out[f"{s.name}{{{body}}}"] = s.value
    return out


def _input_series(scrapes: list[dict[str, float]]) -> list[dict[str, str]]:
    names = sorted({k for s in scrapes for k in s})
    def fmt(v: float | None) -> str:
        return "_" if v is None else ("NaN" if v != v else repr(float(v)))
    return [{"series": n, "values": " ".join(fmt(s.get(n)) for s in scrapes)} for n in names]


def _promtool_test(promtool: Path, tmp: Path, rules_file: Path, scrapes: list, tests: list) -> str:
    spec = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [{"interval": f"{STEP_MINUTES}m", "input_series": _input_series(scrapes),
                   "promql_expr_test": tests}],
    }
    path = tmp / "test.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run_promtool(promtool, "test", "rules", str(path))
    return "" if result.returncode == 0 else result.stdout + result.stderr


def _alert_exprs(rules_file: Path) -> dict[str, str]:
    rules = yaml.safe_load(rules_file.read_text())["groups"][0]["rules"]
    return {r["alert"]: r["expr"] for r in rules}


@pytest.fixture(scope="module")
def troubled_scrapes() -> list[dict[str, float]]:
    """Ten scrapes of a stream with drifted (noisy) curves and 10 % poison messages."""
    return _stream_scrapes(10, drifted=True, poison_every=10)


def test_every_dashboard_query_returns_data(promtool, rules_file, troubled_scrapes,
                                            tmp_path) -> None:
    """Each dashboard expression, evaluated by promtool on the real scrapes, is non-empty."""
    eval_time = f"{STEP_MINUTES * (len(troubled_scrapes) - 1)}m"
    tests = [{"expr": f"clamp_max(count({e}), 1)", "eval_time": eval_time,
              "exp_samples": [{"labels": "{}", "value": 1}]} for _, e in dashboard_exprs()]
    failure = _promtool_test(promtool, tmp_path, rules_file, troubled_scrapes, tests)
    assert not failure, failure


def test_alerts_fire_on_a_troubled_stream(promtool, rules_file, troubled_scrapes,
                                          tmp_path) -> None:
    """Drift, dead-letter and failure alert conditions hold on the drifted, poisoned stream."""
    exprs = _alert_exprs(rules_file)
    eval_time = f"{STEP_MINUTES * (len(troubled_scrapes) - 1)}m"
    tests = [{"expr": f"clamp_max(count({exprs[name]}), 1)", "eval_time": eval_time,
              "exp_samples": [{"labels": "{}", "value": 1}]}
             for name in ("BrokerPluginDrift", "BrokerPluginDeadLetterRate",
                          "BrokerPluginAlertsFailing")]
    failure = _promtool_test(promtool, tmp_path, rules_file, troubled_scrapes, tests)
    assert not failure, failure


def test_alerts_stay_quiet_on_a_healthy_stream(promtool, rules_file, tmp_path) -> None:
    """On a clean, reference-like stream that drains its lag, no alert condition holds."""
    scrapes = _stream_scrapes(6, drifted=False, poison_every=0)
    eval_time = f"{STEP_MINUTES * (len(scrapes) - 1)}m"
    tests = [{"expr": expr, "eval_time": eval_time, "exp_samples": []}
             for expr in _alert_exprs(rules_file).values()]
    failure = _promtool_test(promtool, tmp_path, rules_file, scrapes, tests)
    assert not failure, failure
