"""End to end through the real broker: produce alerts, run the plugin CLI, read its output.

LSST 11.1 and 8.0 packets (wire format) and ZTF packets (containers) from the same light
curves, with poison messages mixed in; the plugin's records must equal `classify` on the same
bytes, and a SIGKILLed consumer must lose nothing after a restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from broker_plugin.avro.framing import frame_confluent
from broker_plugin.serving.dlq import read_dead_letter_headers
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.produce import iter_alerts
from broker_plugin.serving.replay import classify_files
from broker_plugin.serving.service import output_schema
from devtools.kafka_support import (
    TopicReader,
    create_topics,
    produce_all,
    read_topic,
    unique_topic_name,
)
from devtools.serving_data import periodic_curves

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    """The session broker (conftest; SELFREG_TEST_KAFKA_BOOTSTRAP selects an external one)."""
    return kafka_bootstrap


@pytest.fixture(scope="module")
def schema_dir() -> Path:
    packet = pytest.importorskip("lsst.alert.packet", reason="needs lsst-alert-packet (test extra)")
    return Path(packet.__file__).parent / "schema"


@pytest.fixture(scope="module")
def model(cnn_model_dir: Path) -> Path:
    """A real CNN exported and calibrated by `training train` (tests/cnn_fixture.py)."""
    return cnn_model_dir


def _run_cli(bootstrap: str, topics: dict[str, str], model: Path, schema_dir: Path, *extra: str):
    command = [
        sys.executable,
        "-m",
        "broker_plugin",
        "run",
        "--input-topic",
        topics["in"],
        "--output-topic",
        topics["out"],
        "--dlq-topic",
        topics["dlq"],
        "--group-id",
        topics["group"],
        "--model",
        str(model),
        "--schema-dir",
        str(schema_dir),
        "--survey",
        "auto",  # the stream mixes LSST and ZTF alerts
        "--batch-size",
        "8",
        "--batch-wait-ms",
        "50",
        "--no-metrics",  # the default port may be taken by a parallel test or a demo
        *extra,
    ]
    env = {**os.environ, "BROKER_PLUGIN_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _topics(bootstrap: str, partitions: int = 2) -> dict[str, str]:
    topics = {k: unique_topic_name(f"e2e-{k}") for k in ("in", "out", "dlq")}
    create_topics(bootstrap, topics.values(), partitions=partitions)
    topics["group"] = unique_topic_name("e2e")
    return topics


def test_run_matches_classify_and_dead_letters_poison(
    bootstrap: str, model: Path, schema_dir: Path, tmp_path: Path
) -> None:
    """LSST 11.1/8.0 + ZTF alerts: one record each, equal to `classify`; poison → DLQ."""
    curves = periodic_curves(6, points=40)
    alerts = [
        *(p for _, p in iter_alerts(curves, "lsst", "11.1", 2, schema_dir)),
        *(p for _, p in iter_alerts(curves, "lsst", "8.0", 1, schema_dir)),
        *(p for _, p in iter_alerts(curves, "ztf", alerts_per_object=1)),
    ]
    poison = {
        b'{"json": 1}': "bad_magic",
        frame_confluent(4242, b"\x02\x04"): "unknown_schema",
        alerts[0][:40]: "avro_error",
    }
    payloads = [*alerts[:5], *poison, *alerts[5:]]
    topics = _topics(bootstrap)
    produce_all(bootstrap, topics["in"], payloads)

    process = _run_cli(bootstrap, topics, model, schema_dir, "--max-messages", str(len(payloads)))
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output.decode()[-2000:]

    serializer = OutputSerializer("avro", output_schema())
    out = read_topic(bootstrap, topics["out"], 24, settle_s=0.5)
    records = [serializer.deserialize(m.value()) for m in out]
    assert len(records) == len(alerts) == 24
    for r in records:
        assert abs(sum(r["probabilities"].values()) - 1.0) < 1e-6

    dumps = tmp_path / "dumps"
    dumps.mkdir()
    for i, payload in enumerate(alerts):
        (dumps / f"{i:03d}.bin").write_bytes(payload)
    classify_files([dumps], model, tmp_path / "replay.jsonl", schema_dir=schema_dir)
    replay = [json.loads(line) for line in (tmp_path / "replay.jsonl").read_text().splitlines()]
    by_id = {(r["alert_id"], r["survey"], r["schema_id"]): r for r in replay}
    assert len(by_id) == 24
    for r in records:
        expected = by_id[(r["alert_id"], r["survey"], r["schema_id"])]
        for name, p in r["probabilities"].items():
            assert abs(p - expected["probabilities"][name]) <= 1e-6
    assert {r["schema_id"] for r in records} == {1101, 800, None}

    dlq = read_topic(bootstrap, topics["dlq"], 3, settle_s=0.5)
    reasons = {m.value(): read_dead_letter_headers(m.headers())["reason"] for m in dlq}
    assert reasons == poison


def test_sigkill_mid_stream_loses_nothing(bootstrap: str, model: Path, schema_dir: Path) -> None:
    """Kill -9 mid-stream, restart: every input alert has at least one output record."""
    curves = periodic_curves(20, points=40, seed=3)
    alerts = [p for _, p in iter_alerts(curves, "lsst", "11.1", 3, schema_dir)]
    half = len(alerts) // 2
    topics = _topics(bootstrap)
    produce_all(bootstrap, topics["in"], alerts[:half])
    reader = TopicReader(bootstrap, topics["out"])
    try:
        # A short session so the restarted consumer need not wait 45 s for the dead one's.
        quick = (
            "--output-format",
            "json",
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=1000",
        )
        first = _run_cli(bootstrap, topics, model, schema_dir, *quick)
        reader.read(1, timeout_s=60)
        first.send_signal(signal.SIGKILL)
        first_output, _ = first.communicate(timeout=10)
        assert reader.messages, "the first consumer produced nothing before the kill"
        produce_all(bootstrap, topics["in"], alerts[half:])  # the stream goes on

        expected = {_alert_id(p) for p in alerts}

        def ids_of(messages: list) -> set[str]:
            return {json.loads(m.value())["alert_id"] for m in messages}

        second = _run_cli(bootstrap, topics, model, schema_dir, *quick)
        try:
            # Distinct ids, not a record count: the batch in flight at the kill is redelivered
            # (at-least-once), so 60 records can arrive before 60 distinct alerts have.
            # Generous timeout: CI machines can be loaded.
            ids = ids_of(reader.read_until(lambda got: ids_of(got) >= expected, 180))
        finally:
            second.send_signal(signal.SIGTERM)
            output, _ = second.communicate(timeout=30)
    finally:
        reader.close()
    assert second.returncode == 0, output.decode()[-2000:]
    missing = sorted(expected - ids)
    assert not missing, (
        f"{len(missing)} alert(s) without output: {missing}\n--- first consumer (killed):\n"
        f"{first_output.decode()[-3000:]}\n--- second consumer:\n{output.decode()[-5000:]}"
    )


def _alert_id(payload: bytes) -> str:
    """The diaSourceId of an LSST alert payload, via the decoder itself."""
    import lsst.alert.packet as packet

    from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource

    source = DirectorySchemaSource(Path(packet.__file__).parent / "schema")
    return str(AlertDecoder(source).decode_batch([payload]).alert_id[0])
