"""The /metrics, /healthz and /readyz endpoints answer from real health state."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from broker_plugin.health import Health
from broker_plugin.http_server import start_http_server
from broker_plugin.metrics import PluginMetrics


def get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture()
def served():
    metrics, health = PluginMetrics(classes=["A", "B"]), Health(liveness_timeout=0.5)
    with start_http_server(0, metrics.registry, health, addr="127.0.0.1") as server:
        yield server.port, metrics, health


def test_metrics_endpoint_serves_the_registry(served) -> None:
    """/metrics returns the Prometheus text format with the plugin's series."""
    port, metrics, _ = served
    metrics.consumed(4, "alerts")
    status, content_type, body = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert 'broker_plugin_alerts_consumed_total{topic="alerts"} 4.0' in body


def test_readyz_waits_for_model_and_consumer(served) -> None:
    """/readyz is 503 until the model is loaded and the consumer runs, then 200."""
    port, _, health = served
    assert get(port, "/readyz")[0] == 503
    health.model_loaded("1")
    assert get(port, "/readyz")[0] == 503
    health.consumer_running(True)
    status, _, body = get(port, "/readyz")
    assert status == 200 and json.loads(body)["model_version"] == "1"


def test_healthz_fails_when_the_loop_stops_ticking(served) -> None:
    """/healthz is 200 right after a tick and 503 once ticks stop for the timeout."""
    port, _, health = served
    health.tick()
    assert get(port, "/healthz")[0] == 200
    time.sleep(0.7)
    status, _, body = get(port, "/healthz")
    assert status == 503 and json.loads(body)["seconds_since_tick"] > 0.5


def test_unknown_path_is_404(served) -> None:
    """Other paths answer 404 naming the valid ones."""
    status, _, body = get(served[0], "/")
    assert status == 404 and "/metrics" in body


def test_readiness_can_require_partitions() -> None:
    """With require_assignment, readiness also needs at least one partition."""
    health = Health(require_assignment=True)
    health.model_loaded("1")
    health.consumer_running(True)
    assert not health.readiness().ok
    health.partitions_assigned(2)
    assert health.readiness().ok
