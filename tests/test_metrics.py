"""Plugin metrics: names, vectorised batch updates, MJD latency, consumer lag, isolation."""

from __future__ import annotations

import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from broker_plugin.metrics import (
    PROBABILITY_BUCKETS,
    PluginMetrics,
    mjd_to_unix,
)

CLASSES = ["CEP", "DSCT", "ECL", "LPV", "RRLYR"]
# Every label a metric may carry: low-cardinality dimensions only, never object ids.
ALLOWED_LABELS = {
    "topic", "partition", "stage", "error", "reason", "model_version", "predicted_class",
    "version", "python", "onnxruntime", "name", "onnx_sha256", "classes", "le",
    "feature", "method",
}


@pytest.fixture()
def metrics() -> PluginMetrics:
    return PluginMetrics(model_name="cnn", model_version="1.2", classes=CLASSES)


def value(m: PluginMetrics, metric: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(metric, labels)


def test_names_share_the_prefix_and_conventions(metrics) -> None:
    """Every metric starts with the prefix; counters end _total, latency histograms _seconds."""
    metrics.failed("AvroError")
    metrics.dead_lettered("bad_magic_byte")
    for family in metrics.registry.collect():
        assert family.name.startswith("broker_plugin_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
    names = {f.name for f in metrics.registry.collect()}
    assert {"broker_plugin_stage_duration_seconds",
            "broker_plugin_end_to_end_latency_seconds"} <= names


def test_no_object_ids_in_labels(metrics) -> None:
    """After a full batch every label name is one of the low-cardinality dimensions."""
    metrics.consumed(3, "lsst-alerts")
    metrics.classified(np.eye(5)[[0, 1, 4]])
    metrics.set_consumer_lag([("lsst-alerts", 0, 5)])
    labels = {k for f in metrics.registry.collect() for s in f.samples for k in s.labels}
    assert labels <= ALLOWED_LABELS, labels - ALLOWED_LABELS


def test_classified_counts_classes_and_top_probability(metrics) -> None:
    """Per-class counts equal the argmax histogram; top-probability buckets are cumulative."""
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=400)
    metrics.classified(probabilities)
    expected = np.bincount(probabilities.argmax(axis=1), minlength=5)
    for name, count in zip(CLASSES, expected, strict=True):
        got = value(metrics, "broker_plugin_predictions_total",
                    model_version="1.2", predicted_class=name)
        assert got == count
    assert value(metrics, "broker_plugin_alerts_classified_total", model_version="1.2") == 400
    top = probabilities.max(axis=1)
    for bound in (0.3, 0.5, 0.8):
        got = value(metrics, "broker_plugin_top_probability_bucket",
                    model_version="1.2", le=repr(float(bound)))
        assert got == np.sum(top <= bound)
    assert value(metrics, "broker_plugin_top_probability_count", model_version="1.2") == 400
    assert value(metrics, "broker_plugin_top_probability_sum", model_version="1.2") == (
        pytest.approx(top.sum())
    )
    assert PROBABILITY_BUCKETS[-1] == 1.0


def test_mjd_conversion_handles_tai() -> None:
    """MJD 40587 UTC is the unix epoch; a TAI time is 37 s ahead of UTC."""
    assert mjd_to_unix(40587.0, "utc") == 0.0
    assert mjd_to_unix(40588.0, "tai") == 86400.0 - 37.0


def test_end_to_end_latency_from_alert_mjd(metrics) -> None:
    """An alert observed 20 s ago lands in the (10, 30] s latency bucket."""
    now = time.time()
    mjd_tai = (now - 20.0 + 37.0) / 86400.0 + 40587.0
    metrics.end_to_end(np.array([mjd_tai]), published_unix=now, scale="tai")
    le10 = value(metrics, "broker_plugin_end_to_end_latency_seconds_bucket", le="10.0")
    le30 = value(metrics, "broker_plugin_end_to_end_latency_seconds_bucket", le="30.0")
    assert (le10, le30) == (0.0, 1.0)


def test_stage_timer_records_even_on_error(metrics) -> None:
    """A stage that raises is still timed (its batch took that time) and exported."""
    from broker_plugin.serving.timing import StageTimes

    times = StageTimes()
    with pytest.raises(RuntimeError), times.stage("inference"):
        raise RuntimeError("boom")
    metrics.stages(times)
    assert value(metrics, "broker_plugin_stage_duration_seconds_count", stage="inference") == 1


def test_consumer_lag_drops_revoked_partitions(metrics) -> None:
    """After a rebalance, revoked partitions' lag series disappear."""
    metrics.set_consumer_lag([("t", 0, 10), ("t", 1, 3)])
    metrics.set_consumer_lag([("t", 1, 4)])
    assert value(metrics, "broker_plugin_consumer_lag_messages", topic="t", partition="0") is None
    assert value(metrics, "broker_plugin_consumer_lag_messages", topic="t", partition="1") == 4
    assert value(metrics, "broker_plugin_assigned_partitions") == 1


class _Partition:
    def __init__(self, topic: str, partition: int, offset: int = -1001) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset


class _StubConsumer:
    """Answers the four confluent_kafka.Consumer calls that lag needs, from fixed numbers."""

    def __init__(self, positions: dict, committed: dict, watermarks: dict) -> None:
        self._positions, self._committed, self._watermarks = positions, committed, watermarks

    def assignment(self) -> list:
        return [_Partition(t, p) for t, p in self._positions]

    def position(self, partitions: list) -> list:
        return [_Partition(tp.topic, tp.partition, self._positions[tp.topic, tp.partition])
                for tp in partitions]

    def committed(self, partitions: list, timeout: float) -> list:
        return [_Partition(tp.topic, tp.partition, self._committed[tp.topic, tp.partition])
                for tp in partitions]

    def get_watermark_offsets(self, tp, timeout: float = 1.0, cached: bool = False) -> tuple:
        return (-1001, -1001) if cached else self._watermarks[tp.topic, tp.partition]


def test_lag_from_consumer_positions_and_committed(metrics) -> None:
    """Lag is high watermark − position, or − committed offset where there is no position."""
    consumer = _StubConsumer(
        positions={("a", 0): 90, ("a", 1): -1001},
        committed={("a", 0): 80, ("a", 1): 40},
        watermarks={("a", 0): (0, 100), ("a", 1): (0, 50)},
    )
    metrics.update_consumer_lag(consumer)
    assert value(metrics, "broker_plugin_consumer_lag_messages", topic="a", partition="0") == 10
    assert value(metrics, "broker_plugin_consumer_lag_messages", topic="a", partition="1") == 10


def test_registries_are_isolated() -> None:
    """Two PluginMetrics never share series (each owns its registry)."""
    a, b = PluginMetrics(classes=CLASSES), PluginMetrics(classes=CLASSES)
    a.consumed(5, "t")
    assert value(b, "broker_plugin_alerts_consumed_total", topic="t") is None


def test_custom_prefix_and_registry() -> None:
    """A caller-provided registry and prefix are used for every metric."""
    registry = CollectorRegistry()
    m = PluginMetrics(registry=registry, prefix="vs")
    m.batch(7)
    assert registry.get_sample_value("vs_batch_size_alerts_count") == 1
    assert all(f.name.startswith("vs_") for f in registry.collect())


def test_model_info_carries_version(metrics) -> None:
    """model_info exposes the served model's name and version as labels."""
    labels = {"name": "cnn", "version": "1.2", "onnx_sha256": "", "classes": ",".join(CLASSES)}
    assert metrics.registry.get_sample_value("broker_plugin_model_info", labels) == 1


def test_known_reasons_start_at_zero(metrics) -> None:
    """Initialised reasons are exported as 0 before any failure, so panels show 0, not gaps."""
    metrics.initialise_reasons(["bad_magic", "too_few_points"], ["bad_magic"])
    registry = metrics.registry
    prefix = metrics.prefix
    assert registry.get_sample_value(f"{prefix}_dead_letters_total", {"reason": "bad_magic"}) == 0
    assert registry.get_sample_value(
        f"{prefix}_dead_letters_total", {"reason": "too_few_points"}) == 0
    assert registry.get_sample_value(f"{prefix}_alerts_failed_total", {"error": "bad_magic"}) == 0
    assert registry.get_sample_value(
        f"{prefix}_alerts_failed_total", {"error": "too_few_points"}) is None
