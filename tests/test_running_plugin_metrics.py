"""A running `broker-plugin run` process, scraped over HTTP while it serves the real broker.

One stream (LSST 11.1 and ZTF alerts, poison messages, an alert with too few points) goes
through the plugin started as a subprocess with its metrics port; the scrape must show every
metric of the monitoring issue with values that follow from what was sent; /healthz and
/readyz answer; SIGTERM ends it with exit status 0 and offsets committed to the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from broker_plugin.avro.framing import frame_confluent
from broker_plugin.drift import INPUT_FEATURES, reference_statistics
from broker_plugin.features import featurise_batch
from broker_plugin.metrics import mjd_to_unix
from broker_plugin.model_card import CARD_FILE, ModelCard
from broker_plugin.rejections import Reason
from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.observer import time_scale
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.produce import iter_alerts
from broker_plugin.serving.service import output_schema
from devtools.kafka_support import create_topics, produce_all, read_topic, unique_topic_name
from devtools.loopback import free_port, http_get
from devtools.model_fixture import write_fixture_model
from devtools.serving_data import periodic_curves

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
VERSION = "0.0.1"  # the fixture model's version
PARTITIONS = 2
DRIFT_WINDOW, DRIFT_MIN_WINDOW, PSI_THRESHOLD = 30, 10, 0.3


@pytest.fixture(scope="module")
def schema_dir() -> Path:
    packet = pytest.importorskip("lsst.alert.packet", reason="needs lsst-alert-packet (test extra)")
    return Path(packet.__file__).parent / "schema"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture model, its card given drift reference statistics from similar curves."""
    directory = write_fixture_model(tmp_path_factory.mktemp("model"), min_points=5)
    curves = periodic_curves(60, points=40, seed=11)
    card = ModelCard.load(directory / CARD_FILE)
    batch = featurise_batch(curves, card.features)
    probabilities = Classifier(directory).predict(batch.x)
    reference = reference_statistics(
        batch, probabilities, card.classes, points_per_band=[len(c.time) for c in curves]
    )
    dataclasses.replace(card, reference=reference).save(directory / CARD_FILE)
    return directory


def scrape(port: int) -> Samples:
    status, text = http_get(port, "/metrics")
    assert status == 200, text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of `name` over the series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def series(samples: Samples, name: str, key: str) -> dict[str, float]:
    """{value of label `key`: sample} for every series of `name`."""
    return {dict(lab)[key]: v for (n, lab), v in samples.items() if n == name and key in dict(lab)}


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stream(schema_dir: Path) -> dict[str, object]:
    """The payloads to send: 24 good alerts, 3 poison messages, 1 alert with 4 points in all."""
    curves = periodic_curves(8, points=40, seed=5)
    good = [
        *(p for _, p in iter_alerts(curves, "lsst", "11.1", 2, schema_dir)),
        *(p for _, p in iter_alerts(curves, "ztf", alerts_per_object=1)),
    ]
    short = next(p for _, p in iter_alerts(periodic_curves(1, points=4, seed=9), "lsst", "11.1",
                                           1, schema_dir))
    poison = {
        b'{"json": 1}': Reason.BAD_MAGIC,
        frame_confluent(4242, b"\x02\x04"): Reason.UNKNOWN_SCHEMA,
        good[0][:40]: Reason.AVRO_ERROR,
    }
    payloads = [*good[:10], *poison, short, *good[10:]]
    return {"good": good, "poison": poison, "short": short, "payloads": payloads}


@pytest.fixture(scope="module")
def running(
    kafka_bootstrap: str,
    model: Path,
    schema_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, object]]:
    """The plugin process while it serves (stopped with SIGTERM by the last test step).

    Its output goes to a file, not a pipe: a pipe nobody reads would block a chatty process.
    """
    topics = {k: unique_topic_name(f"running-{k}") for k in ("in", "out", "dlq")}
    create_topics(kafka_bootstrap, topics.values(), partitions=PARTITIONS)
    group = unique_topic_name("running")
    port = free_port()
    command = [
        sys.executable, "-m", "broker_plugin", "run",
        "--input-topic", topics["in"], "--output-topic", topics["out"],
        "--dlq-topic", topics["dlq"], "--group-id", group, "--model", str(model),
        "--schema-dir", str(schema_dir), "--survey", "auto",  # LSST and ZTF alerts mixed
        "--batch-size", "8", "--batch-wait-ms", "50",
        "--metrics-port", str(port), "--drift-min-window", str(DRIFT_MIN_WINDOW),
        "--drift-psi-threshold", str(PSI_THRESHOLD),
    ]  # fmt: skip
    env = {
        **os.environ,
        "BROKER_PLUGIN_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "BROKER_PLUGIN_DRIFT_WINDOW": str(DRIFT_WINDOW),  # options are also env variables
        "BROKER_PLUGIN_LAG_INTERVAL": "0.3",
    }
    log = tmp_path_factory.mktemp("plugin") / "output.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    state: dict[str, object] = {"process": process, "port": port, "topics": topics,
                                "group": group, "bootstrap": kafka_bootstrap, "log": log}
    try:
        yield state
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def plugin_output(running: dict[str, object]) -> str:
    """What the plugin printed so far (its last 3,000 characters, for assertion messages)."""
    return Path(running["log"]).read_text(errors="replace")[-3000:]  # type: ignore[arg-type]


def wait_ready(running: dict[str, object]) -> None:
    """Until /readyz says 200 with every partition assigned (fails if the process died)."""
    port = int(running["port"])  # type: ignore[call-overload]
    process: subprocess.Popen[bytes] = running["process"]  # type: ignore[assignment]

    def ready() -> bool:
        assert process.poll() is None, plugin_output(running)
        status, body = http_get(port, "/readyz")
        return status == 200 and json.loads(body)["assigned_partitions"] == PARTITIONS

    wait_for(ready, 60, "/readyz 200 with both partitions assigned")


def test_probes_answer_before_and_while_consuming(running: dict[str, object]) -> None:
    """/healthz is 200 and /readyz turns 200 once the consumer runs with its partitions."""
    port = int(running["port"])  # type: ignore[call-overload]
    wait_ready(running)
    status, body = http_get(port, "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    status, body = http_get(port, "/readyz")
    assert json.loads(body) == {"ok": True, "model_version": VERSION, "consumer_running": True,
                                "assigned_partitions": PARTITIONS}


@pytest.fixture(scope="module")
def after_stream(running: dict[str, object], stream: dict[str, object]) -> dict[str, object]:
    """Send the stream to the running plugin; the scrape once it consumed all and lag is 0."""
    port = int(running["port"])  # type: ignore[call-overload]
    bootstrap, topics = str(running["bootstrap"]), running["topics"]
    payloads: list[bytes] = stream["payloads"]  # type: ignore[assignment]
    wait_ready(running)
    sent_at = time.time()
    produce_all(bootstrap, topics["in"], payloads)  # type: ignore[index]

    def drained() -> bool:
        samples = scrape(port)
        lag = series(samples, "broker_plugin_consumer_lag_messages", "partition")
        return (
            total(samples, "broker_plugin_alerts_consumed_total") == len(payloads)
            and len(lag) == PARTITIONS
            and all(v == 0 for v in lag.values())
        )

    wait_for(drained, 60, f"{len(payloads)} consumed and the lag of both partitions at 0")
    scraped_at = time.time()
    serializer = OutputSerializer("avro", output_schema())
    out = read_topic(bootstrap, topics["out"], len(stream["good"]), settle_s=0.3)  # type: ignore
    return {
        "samples": scrape(port),
        "sent_at": sent_at,
        "scraped_at": scraped_at,
        "records": [serializer.deserialize(m.value()) for m in out],
    }


def test_counts_equal_what_was_sent(after_stream, stream, running) -> None:
    """Consumed, classified, dead letters by reason and failures by error match the stream."""
    s = after_stream["samples"]
    good, poison = stream["good"], stream["poison"]
    assert total(s, "broker_plugin_alerts_consumed_total", topic=running["topics"]["in"]) == len(
        stream["payloads"]
    )
    assert total(s, "broker_plugin_alerts_classified_total", model_version=VERSION) == len(good)
    assert len(after_stream["records"]) == len(good)
    reasons = Counter([*poison.values(), Reason.TOO_FEW_POINTS])
    dead_letters = series(s, "broker_plugin_dead_letters_total", "reason")
    assert {r: n for r, n in dead_letters.items() if n} == dict(reasons)
    assert set(dead_letters) >= {"bad_magic", "avro_error", "no_points"}  # known reasons at 0
    failures = series(s, "broker_plugin_alerts_failed_total", "error")
    # too few points is not a failure
    assert {e: n for e, n in failures.items() if n} == dict(Counter(poison.values()))
    assert Reason.TOO_FEW_POINTS not in failures


def test_stage_histograms_and_batches(after_stream, stream) -> None:
    """Every stage was timed once per batch; batch sizes add up to the messages consumed."""
    s = after_stream["samples"]
    batches = total(s, "broker_plugin_batch_size_alerts_count")
    assert batches >= len(stream["payloads"]) / 8
    assert total(s, "broker_plugin_batch_size_alerts_sum") == len(stream["payloads"])
    counts = series(s, "broker_plugin_stage_duration_seconds_count", "stage")
    for stage in ("decode", "features", "inference", "build", "produce", "commit"):
        assert counts[stage] == batches, stage
        assert total(s, "broker_plugin_stage_duration_seconds_sum", stage=stage) > 0
    last = total(s, "broker_plugin_last_batch_timestamp_seconds")
    assert after_stream["sent_at"] <= last <= after_stream["scraped_at"]


def test_predictions_and_confidence_match_the_output(after_stream) -> None:
    """Predicted-class counts equal the output records' classes; top probability per alert."""
    s, records = after_stream["samples"], after_stream["records"]
    predicted = series(s, "broker_plugin_predictions_total", "predicted_class")
    expected = Counter(r["predicted_class"] for r in records)
    assert {c: v for c, v in predicted.items() if v} == dict(expected)
    assert sum(predicted.values()) == len(records)
    assert total(s, "broker_plugin_top_probability_count", model_version=VERSION) == len(records)
    top_sum = total(s, "broker_plugin_top_probability_sum", model_version=VERSION)
    assert top_sum == pytest.approx(sum(r["probability"] for r in records), abs=1e-6)


def test_end_to_end_latency_uses_each_surveys_time_scale(after_stream) -> None:
    """Latency sum lies between the send and scrape times minus each alert's UTC time."""
    s, records = after_stream["samples"], after_stream["records"]
    assert {r["survey"] for r in records} == {"lsst", "ztf"}
    observed = np.array(
        [float(mjd_to_unix(r["alert_mjd"], time_scale(r["survey"]))) for r in records]
    )
    latency_sum = total(s, "broker_plugin_end_to_end_latency_seconds_sum")
    assert total(s, "broker_plugin_end_to_end_latency_seconds_count") == len(records)
    # Publication happened between sending and scraping; a wrong scale (37 s x 16 LSST alerts)
    # would leave this window.
    low = np.sum(after_stream["sent_at"] - observed)
    high = np.sum(after_stream["scraped_at"] - observed)
    assert low - 1 <= latency_sum <= high + 1


def test_lag_partitions_build_and_model_info(after_stream) -> None:
    """Lag per partition is 0 after the stream, both partitions owned, build/model info = 1."""
    s = after_stream["samples"]
    assert series(s, "broker_plugin_consumer_lag_messages", "partition") == {"0": 0, "1": 0}
    assert total(s, "broker_plugin_assigned_partitions") == PARTITIONS
    build = [lab for (n, lab), v in s.items() if n == "broker_plugin_build_info" and v == 1]
    assert len(build) == 1 and dict(build[0])["version"] not in ("", "unknown")
    model = [dict(lab) for (n, lab), v in s.items() if n == "broker_plugin_model_info" and v == 1]
    assert [(m["name"], m["version"]) for m in model] == [("fixture-linear", VERSION)]
    assert total(s, "broker_plugin_transactions_aborted_total") == 0


def test_drift_gauges_follow_the_configured_window(after_stream) -> None:
    """Drift scores exist per quantity and method, thresholds and window come from the CLI."""
    s, records = after_stream["samples"], after_stream["records"]
    band_curves = sum(len(r["bands"]) for r in records)
    assert total(s, "broker_plugin_drift_window_curves") == min(band_curves, DRIFT_WINDOW)
    assert series(s, "broker_plugin_drift_threshold", "method") == {
        "psi": PSI_THRESHOLD, "ks": 0.2, "js": 0.1
    }
    scores = {
        (dict(lab)["feature"], dict(lab)["method"]): v
        for (n, lab), v in s.items()
        if n == "broker_plugin_drift_score"
    }
    for feature in (*INPUT_FEATURES, "points_per_band", "confidence"):
        for method in ("psi", "ks"):
            assert np.isfinite(scores[(feature, method)]) and scores[(feature, method)] >= 0
    assert 0 <= scores[("class_mix", "js")] <= 1
    assert total(s, "broker_plugin_drift_flag") in (0, 1)


def test_sigterm_exits_cleanly_with_offsets_committed(after_stream, running, stream) -> None:
    """SIGTERM: exit status 0, the summary line printed, committed offsets at the end."""
    process: subprocess.Popen[bytes] = running["process"]
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    text = plugin_output(running)
    assert process.returncode == 0, text
    assert "SIGTERM" in text
    probe = Consumer({"bootstrap.servers": running["bootstrap"], "group.id": running["group"]})
    try:
        parts = [TopicPartition(running["topics"]["in"], p) for p in range(PARTITIONS)]
        committed = [c.offset for c in probe.committed(parts, timeout=10)]
        ends = [probe.get_watermark_offsets(p, timeout=10)[1] for p in parts]
    finally:
        probe.close()
    assert committed == ends and sum(ends) == len(stream["payloads"])
