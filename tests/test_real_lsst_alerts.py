"""Real LSSTCam alerts (schema 10.0, and re-encoded in 11.0 and 11.1): decoded exactly as
fastavro reads them, classified by `classify` and by `run` against the test broker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from broker_plugin.decoding import AlertDecoder, DecodedBatch, DirectorySchemaSource
from devtools.kafka_support import create_topics, produce_all, read_topic, unique_topic_name
from tests.lsst_packet import SCHEMA_ROOT, schema_id
from tests.real_lsst import WIRE_FOLDERS, real_payloads, records, reencoded

pytestmark = pytest.mark.shared_data

ARRAYS = ("alert_index", "alert_id", "object_id", "survey", "alert_mjd", "segment_alert",
          "segment_band", "segment_size", "time", "mag", "err")
N_REAL = 34
WITH_HISTORY = 5  # objects of the fink_client folder with 300+ previous detections
SOLAR_SYSTEM = 5  # alerts with diaObjectId 0 (2 + 3)


@pytest.fixture(scope="module")
def payloads(shared_data: Path) -> list[bytes]:
    if not (shared_data / WIRE_FOLDERS[0]).is_dir():
        pytest.skip(f"needs {shared_data / WIRE_FOLDERS[0]}")
    found = real_payloads(shared_data)
    assert len(found) == N_REAL
    return found


@pytest.fixture(scope="module")
def source() -> DirectorySchemaSource:
    return DirectorySchemaSource(SCHEMA_ROOT)


def _equal(a: DecodedBatch, b: DecodedBatch, names: tuple[str, ...] = ARRAYS) -> None:
    for name in names:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.failures == b.failures


def test_fast_decoder_equals_fastavro_on_real_alerts(payloads, source) -> None:
    """All 34 real alerts: the fast path's values equal the fastavro path's, and both match
    the record fastavro reads: ids, alert time, every detection's time and flux."""
    fast = AlertDecoder(source).decode_batch(payloads)
    _equal(fast, AlertDecoder(source, fast=False).decode_batch(payloads))
    assert not fast.failures and len(fast) == N_REAL
    for i, record in enumerate(records(payloads, SCHEMA_ROOT)):
        source_row = record["diaSource"]
        assert int(fast.alert_id[i]) == source_row["diaSourceId"]
        assert float(fast.alert_mjd[i]) == source_row["midpointMjdTai"]
        object_id = source_row.get("diaObjectId") or 0
        assert int(fast.object_id[i]) == object_id
        history = [source_row, *(record.get("prvDiaSources") or []),
                   *(record.get("prvDiaForcedSources") or [])]
        expected = np.array(sorted({s["midpointMjdTai"] for s in history}))
        mine = np.flatnonzero(np.asarray(fast.segment_alert) == i)
        starts = np.concatenate(([0], np.cumsum(fast.segment_size)))
        times = np.concatenate([fast.time[starts[s]:starts[s + 1]] for s in mine])
        assert np.isin(times, expected).all()  # every point is one of the record's epochs
    assert list(fast.object_id).count("0") == SOLAR_SYSTEM


@pytest.mark.parametrize("version", ["11.0", "11.1"])
def test_real_alerts_reencoded_in_11x_decode_to_the_same_light_curves(payloads, source,
                                                                      version) -> None:
    """The same records in Rubin's production schemas: same ids, times, magnitudes."""
    newer = reencoded(payloads, version, SCHEMA_ROOT, schema_id(version))
    fast = AlertDecoder(source).decode_batch(newer)
    _equal(fast, AlertDecoder(source, fast=False).decode_batch(newer))
    _equal(fast, AlertDecoder(source).decode_batch(payloads))


def _classify(inputs: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "broker_plugin", "classify", "--schema-dir",
                           str(SCHEMA_ROOT), "--out", str(out), *map(str, inputs)],
                          capture_output=True, text=True, timeout=300)


def _in_schema(payloads: list[bytes], version: str) -> list[bytes]:
    """The real alerts as written (10.0) or carried over to a newer schema."""
    if version == "10.0":
        return payloads
    return reencoded(payloads, version, SCHEMA_ROOT, schema_id(version))


@pytest.mark.parametrize("version", ["10.0", "11.0", "11.1"])
def test_classify_real_alerts(payloads, tmp_path: Path, version: str) -> None:
    """The five objects with histories are classified (with an unknown score); the others
    (solar-system alerts, objects with a handful of points) are rejected with a reason."""
    wire = tmp_path / "wire"
    wire.mkdir()
    for i, payload in enumerate(_in_schema(payloads, version)[:7]):  # the fink_client folder
        (wire / f"{i:02d}.wire.avro").write_bytes(payload)
    result = _classify([wire], tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stdout + result.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(out) == WITH_HISTORY
    assert {r["schema_id"] for r in out} == {schema_id(version)}
    for record in out:
        assert abs(sum(record["probabilities"].values()) - 1) < 1e-6
        assert record["unknown_score"] is not None
        assert sum(record["points_per_band"].values()) >= 300
    rejects = (tmp_path / "out.rejects.jsonl").read_text().splitlines()
    assert {json.loads(r)["reason"] for r in rejects} == {"too_few_points"}


@pytest.mark.parametrize("version", ["10.0", "11.1"])
def test_run_serves_real_alerts_from_the_broker(payloads, kafka_bootstrap: str,
                                                version: str) -> None:
    """`run` on a topic of the 34 real wire messages: one record per alert it can classify,
    every other alert in the dead-letter topic, nothing lost."""
    topics = {k: unique_topic_name(f"real-lsst-{k}") for k in ("in", "out", "dlq")}
    create_topics(kafka_bootstrap, topics.values())
    produce_all(kafka_bootstrap, topics["in"], _in_schema(payloads, version))
    result = subprocess.run(
        [sys.executable, "-m", "broker_plugin", "run", "--bootstrap-servers", kafka_bootstrap,
         "--input-topic", topics["in"], "--output-topic", topics["out"], "--dlq-topic",
         topics["dlq"], "--group-id", topics["in"], "--schema-dir", str(SCHEMA_ROOT),
         "--max-messages", str(N_REAL), "--no-metrics"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    classified = read_topic(kafka_bootstrap, topics["out"], WITH_HISTORY, settle_s=1)
    dead = read_topic(kafka_bootstrap, topics["dlq"], N_REAL - WITH_HISTORY, settle_s=1)
    assert len(classified) == WITH_HISTORY and len(dead) == N_REAL - WITH_HISTORY
