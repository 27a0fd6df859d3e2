"""The Grafana dashboard and the alert rules: valid JSON, PromQL that Prometheus's own parser
accepts, and queries and alerts that Prometheus's own engine evaluates on real scrapes of a
running plugin's /metrics (scripts/promql-check, built from the Go module proxy and cached)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from broker_plugin.drift import DriftMonitor, reference_statistics
from broker_plugin.features import featurise_segments
from broker_plugin.health import Health
from broker_plugin.http_server import start_http_server
from broker_plugin.metrics import PluginMetrics
from broker_plugin.serving.timing import StageTimes
from tests.helm_support import CHART, go_tool, one, render

DASHBOARD = CHART / "dashboards" / "broker-plugin.json"
JOB, NAMESPACE = "rel-broker-plugin-metrics", "astro"
TARGET_LABELS = {"job": JOB, "namespace": NAMESPACE, "instance": "10.0.0.7:9108"}
CLASSES = ["CEP", "DSCT", "ECL", "LPV", "RRLYR"]
SCRAPE_S = 300  # one batch, one scrape, five minutes of Prometheus time
RULE_EVAL_S = 60  # Prometheus's rule evaluation interval
# $__rate_interval is at least four scrape intervals in Grafana; 10m spans 3 of our scrapes.
GRAFANA_VARS = ("__rate_interval=10m", f"namespace={NAMESPACE}", f"job={JOB}")
EXPECTED_ALERTS = {"BrokerPluginNoThroughput", "BrokerPluginLagGrowing",
                   "BrokerPluginDeadLetterRate", "BrokerPluginAlertsFailing", "BrokerPluginDrift"}


@pytest.fixture(scope="module")
def promql_check() -> Path:
    return go_tool("promql-check")


def run_check(binary: Path, *args: str, stdin: object = None) -> tuple[int, dict, str]:
    """(exit status, JSON output, stderr) of one promql-check command."""
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120,
                            check=False, input=None if stdin is None else json.dumps(stdin))
    output = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, output, result.stderr


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    """The PrometheusRule the chart renders, as a Prometheus rule file."""
    rule = one(render(go_tool("helm")), "PrometheusRule")
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


@pytest.fixture(scope="module")
def alert_rules(promql_check, rules_file) -> dict[str, dict]:
    """Alert name -> the rule as Prometheus's rulefmt read it (expr, for)."""
    status, out, err = run_check(promql_check, "rules", str(rules_file))
    assert status == 0, err
    return {r["alert"]: r for r in out["rules"] if r.get("alert")}


def dashboard_queries(binary: Path, dashboard: Path = DASHBOARD) -> list[dict]:
    """Every panel query of the dashboard, parsed, with Grafana's variables filled in."""
    args = [a for var in GRAFANA_VARS for a in ("-var", var)]
    status, out, err = run_check(binary, "parse", "-dashboard", str(dashboard), *args)
    assert status == 0, err
    return out["results"]


def evaluate(binary: Path, scrapes: list[str], queries: list[dict]) -> list[dict]:
    """Prometheus's engine on the scrapes (one every SCRAPE_S from t=0): one result per query."""
    spec = {"scrapes": [{"time": i * SCRAPE_S, "text": text, "target_labels": TARGET_LABELS}
                        for i, text in enumerate(scrapes)],
            "queries": queries}
    status, out, err = run_check(binary, "eval", "-", stdin=spec)
    assert status == 0, err
    assert out["series_loaded"] > 50, out["series_loaded"]
    return out["results"]


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


def test_rules_are_valid_prometheus_rules(alert_rules) -> None:
    """Prometheus's rulefmt accepts the rendered PrometheusRule, with every expected alert."""
    assert set(alert_rules) == EXPECTED_ALERTS
    assert all(r["for_seconds"] > 0 for r in alert_rules.values())


def test_every_dashboard_query_parses(promql_check) -> None:
    """Prometheus's parser accepts every dashboard query, and each selects plugin metrics."""
    dashboard = json.loads(DASHBOARD.read_text())
    n_targets = sum(len(p.get("targets", [])) for p in dashboard["panels"])
    queries = dashboard_queries(promql_check)
    assert len(queries) == n_targets
    for q in queries:
        assert q["metrics"] and all(m.startswith("broker_plugin_") for m in q["metrics"]), q


def test_broken_promql_is_rejected(promql_check) -> None:
    """The parse check can fail: a malformed expression is refused and named."""
    status, out, err = run_check(promql_check, "parse", stdin=[
        {"name": "ok", "expr": "sum(rate(broker_plugin_alerts_consumed_total[5m]))"},
        {"name": "broken panel", "expr": "sum(rate(broker_plugin_alerts_consumed_total[5m])"}])
    assert status == 1
    assert [bool(r.get("error")) for r in out["results"]] == [False, True]
    assert "broken panel" in err and "parenthesis" in err


def test_broken_rule_file_is_rejected(promql_check, tmp_path) -> None:
    """The rules check can fail: a rule with a malformed expression is refused."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "A", "expr": "sum(rate(broker_plugin_alerts_consumed_total[5m])"}]}]}))
    status, out, _ = run_check(promql_check, "rules", str(path))
    assert status == 1 and out["errors"]


def _stream_scrapes(tmp: Path, n_batches: int, drifted: bool, poison_every: int) -> list[str]:
    """Run a real batch flow (featuriser → onnxruntime → metrics, drift, health) behind the real
    HTTP server and scrape /metrics after each batch: the exposition text per scrape."""
    import onnxruntime as ort

    from devtools.model_fixture import build_onnx

    rng = np.random.default_rng(3)
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
            times = StageTimes()
            with times.stage("features"):
                batch, _, sizes = curves(per_batch - n_bad, 0.3 if drifted else 0.02)
            if n_bad:
                metrics.dead_lettered("bad_magic_byte", n_bad)
                metrics.failed("AvroError", 1)
            with times.stage("inference"):
                probabilities = session.run(["probabilities"], {"x": batch.x})[0]
            metrics.stages(times)
            metrics.classified(probabilities)
            alert_mjd = 60000.0 + rng.random(len(probabilities))
            metrics.end_to_end(alert_mjd, published_unix=(60001.0 - 40587.0) * 86400 + 60.0)
            drift.update(batch, probabilities, points_per_band=sizes)
            metrics.batch(per_batch)
            remaining -= per_batch
            metrics.set_consumer_lag([("lsst-alerts", 0, remaining // 2),
                                      ("lsst-alerts", 1, remaining - remaining // 2)])
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as r:
                scrapes.append(r.read().decode())
    return scrapes


@pytest.fixture(scope="module")
def troubled_scrapes(tmp_path_factory) -> list[str]:
    """Ten scrapes of a stream with drifted (noisy) curves and 10 % poison messages."""
    return _stream_scrapes(tmp_path_factory.mktemp("troubled"), 10, drifted=True, poison_every=10)


def queries_without_data(binary: Path, dashboard: Path, scrapes: list[str]) -> list[str]:
    """Names of the dashboard queries with no number (no series, or only NaN) at the last
    scrape: a panel that would show "No data" or a broken line."""
    queries = [{"name": q["name"], "expr": q["expr"], "time": SCRAPE_S * (len(scrapes) - 1)}
               for q in dashboard_queries(binary, dashboard)]
    return [r["name"] for r in evaluate(binary, scrapes, queries)
            if all(s["value"] == "NaN" for s in r["series"])]


def test_every_dashboard_query_returns_data(promql_check, troubled_scrapes) -> None:
    """Each dashboard query, evaluated by Prometheus's engine on the real scrapes, has data."""
    assert queries_without_data(promql_check, DASHBOARD, troubled_scrapes) == []


def test_a_renamed_metric_leaves_its_panel_empty(promql_check, troubled_scrapes,
                                                 tmp_path) -> None:
    """The data check can fail: a dashboard naming a metric the plugin lacks is caught."""
    text = DASHBOARD.read_text().replace("broker_plugin_drift_window_curves",
                                         "broker_plugin_drift_window_size")
    renamed = tmp_path / "renamed.json"
    renamed.write_text(text)
    assert queries_without_data(promql_check, renamed, troubled_scrapes) == [
        "Drift flag and window [B]"]


def firing(binary: Path, scrapes: list[str], rules: dict[str, dict]) -> dict[str, bool]:
    """Alert name -> whether it fires at the last scrape: its condition held at every rule
    evaluation (each RULE_EVAL_S) over its `for` duration, as Prometheus's rule manager needs."""
    end = SCRAPE_S * (len(scrapes) - 1)
    hold = {name: int(rule["for_seconds"]) for name, rule in rules.items()}
    assert max(hold.values()) <= end, f"a `for` is longer than the scraped stream: {hold}"
    queries = [{"name": name, "expr": rule["expr"], "start": end - hold[name], "end": end,
                "step": RULE_EVAL_S} for name, rule in rules.items()]
    return {r["name"]: any(len(s["values"]) == hold[r["name"]] // RULE_EVAL_S + 1
                           for s in r["series"])
            for r in evaluate(binary, scrapes, queries)}


def test_alerts_fire_on_a_troubled_stream(promql_check, alert_rules, troubled_scrapes) -> None:
    """Drift, dead-letter and failure alerts fire (for their full `for`) on the bad stream."""
    state = firing(promql_check, troubled_scrapes, alert_rules)
    assert {name for name, up in state.items() if up} == {
        "BrokerPluginDrift", "BrokerPluginDeadLetterRate", "BrokerPluginAlertsFailing"}


def test_alerts_stay_quiet_on_a_healthy_stream(promql_check, alert_rules, tmp_path) -> None:
    """On a clean, reference-like stream that drains its lag, no alert condition ever holds."""
    scrapes = _stream_scrapes(tmp_path, 6, drifted=False, poison_every=0)
    end = SCRAPE_S * (len(scrapes) - 1)
    queries = [{"name": name, "expr": rule["expr"], "start": 0, "end": end, "step": RULE_EVAL_S}
               for name, rule in alert_rules.items()]
    held = {r["name"]: r["series"] for r in evaluate(promql_check, scrapes, queries)}
    assert {name: series for name, series in held.items() if series} == {}
