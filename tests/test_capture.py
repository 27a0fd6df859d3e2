"""`broker-plugin capture`: alert histories (files or Kafka) → unlabelled light-curve dirs."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from broker_plugin.alerts import LsstAlertEncoder, load_lsst_schema, lsst_object_id, serialise
from broker_plugin.cli import app
from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource
from broker_plugin.decoding.batch import BatchBuilder
from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import read_lightcurve_dir, read_manifest
from broker_plugin.serving.capture import (
    DUPLICATE_ALERT,
    SOLAR_SYSTEM,
    CaptureError,
    HistoryMerger,
    capture_files,
    capture_kafka,
)
from broker_plugin.serving.produce import make_encoder
from broker_plugin.serving.service import make_decoder
from devtools.kafka_support import produce_all, unique_topic_name

REAL_WIRE = "lsst_alerts_real/wire_v10_0_fink_client"


@pytest.fixture(scope="module")
def schema_root() -> Path:
    """lsst-alert-packet's schema folder (test-only dependency), as tests/lsst_packet.py."""
    from tests.lsst_packet import SCHEMA_ROOT

    return SCHEMA_ROOT


def _decode_files(files: list[Path], schema_root: Path):
    return AlertDecoder(DirectorySchemaSource(schema_root)).decode_batch(
        [f.read_bytes() for f in files]
    )


# --------------------------------------------------------------------------- real alerts


@pytest.mark.shared_data
def test_real_lsst_alerts_give_one_curve_per_object_and_band(
    shared_data: Path, schema_root: Path, tmp_path: Path
) -> None:
    """The 7 real LSST 10.0 alerts: 5 objects with histories in several bands; points per
    (object, band) are the distinct epochs the decoder finds, in time order; the two
    solar-system alerts (diaObjectId 0, no history) are counted, not merged."""
    src = shared_data / REAL_WIRE
    if not src.is_dir():
        pytest.skip(f"needs {src} (real LSST alerts in Confluent wire format)")
    files = sorted(p for p in src.iterdir() if p.is_file())
    decoded = _decode_files(files, schema_root)
    assert not decoded.failures and len(decoded) == 7

    # What the decoder gives directly: every (object, band) segment, and the two
    # solar-system alerts as object "0" with their single detection and no history.
    epochs: dict[tuple[str, str], dict[float, float]] = {}
    raw_points: Counter[tuple[str, str]] = Counter()
    for curve in decoded.to_lightcurves():
        if curve.object_id == "0":
            assert len(curve) == 1
            continue
        key = (curve.object_id, str(curve.band))
        raw_points[key] += len(curve)
        seen = epochs.setdefault(key, {})
        for t, m in zip(curve.time.tolist(), curve.mag.tolist(), strict=True):
            seen.setdefault(t, m)  # the first row of an epoch is the one kept
    assert list(decoded.object_id).count("0") == 2

    out = tmp_path / "captured"
    summary = capture_files([src], make_decoder(schema_dir=schema_root), out)
    assert summary.messages == 7 and summary.alerts == 5
    assert summary.skipped == Counter({SOLAR_SYSTEM: 2})
    assert summary.objects == 5 and summary.curves == len(epochs)

    curves = read_lightcurve_dir(out)
    assert {(c.object_id, c.band) for c in curves} == set(epochs)
    bands_per_object = Counter(c.object_id for c in curves)
    assert len(bands_per_object) == 5 and min(bands_per_object.values()) >= 4
    for c in curves:
        expected = epochs[(c.object_id, str(c.band))]
        assert len(c) == len(expected)
        assert np.all(np.diff(c.time) > 0)  # sorted, no repeated epoch
        np.testing.assert_array_equal(c.time, sorted(expected))
        np.testing.assert_array_equal(c.mag, [expected[t] for t in c.time.tolist()])
        assert c.survey == "LSST" and c.label is None
    # One real alert carries two diaSources of one visit (same epoch, band g): one is kept.
    assert sum(raw_points.values()) - summary.points == 1

    manifest = read_manifest(out)
    assert manifest.columns == ["path", "object_id", "band", "survey", "n_alerts"]
    assert manifest["n_alerts"].to_list() == [1] * manifest.height


@pytest.mark.shared_data
def test_cli_on_real_alerts_and_its_errors(
    shared_data: Path, schema_root: Path, tmp_path: Path
) -> None:
    """The command prints the summary; no schema → one `error:` line, exit status 2; an
    existing directory needs --overwrite."""
    src = shared_data / REAL_WIRE
    if not src.is_dir():
        pytest.skip(f"needs {src} (real LSST alerts in Confluent wire format)")
    out = tmp_path / "cap"
    args = ["capture", str(src), "--schema-dir", str(schema_root), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "21 curves of 5 objects" in text and "solar_system 2" in text
    assert "read 7 messages" in text and "5 alerts merged" in text

    run = subprocess.run(  # the same --out again
        [sys.executable, "-m", "broker_plugin", *args],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "pass --overwrite" in lines[0]
    result = CliRunner().invoke(app, [*args, "--overwrite", "--min-points", "200"])
    assert result.exit_code == 0, result.output
    kept = read_lightcurve_dir(out)  # object 170028513894596704: g 207, i 387, r 200 points
    assert sorted((c.band, len(c)) for c in kept) == [("g", 207), ("i", 387), ("r", 200)]
    assert "18 curves under --min-points left out" in " ".join(result.output.split())

    run = subprocess.run(
        [sys.executable, "-m", "broker_plugin", "capture", str(src), "--out",
         str(tmp_path / "none")],
        capture_output=True, text=True, check=False, env=_env_without_schema_options(),
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: nothing captured")
    assert "unknown_schema 7" in lines[0] and "--schema-dir" in lines[0]
    assert not (tmp_path / "none" / "manifest.csv").exists()


def _env_without_schema_options() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BROKER_PLUGIN_")}


# --------------------------------------------------------------------------- merging


def _history(name: str, n: int = 60, seed: int = 0) -> tuple[np.ndarray, ...]:
    """One object's points, all bands in time order: (band, time, mag, err)."""
    rng = np.random.default_rng(seed)
    time = np.sort(rng.uniform(61000.0, 61200.0, n))
    band = np.array(["g", "r", "i"])[rng.integers(0, 3, n)]
    mag = 18.0 + 0.4 * np.sin(time / 0.37) + rng.normal(0, 0.02, n)
    err = rng.uniform(0.01, 0.05, n)
    return band, time, mag, err


def _window(name: str, history: tuple[np.ndarray, ...], lo: int, hi: int) -> list[LightCurve]:
    """The curves of the points lo..hi-1 (an alert with that history, triggered at hi-1)."""
    band, time, mag, err = (a[lo:hi] for a in history)
    return [
        LightCurve(name, time[band == b], mag[band == b], err[band == b], band=str(b))
        for b in sorted(set(band.tolist()))
    ]


def _lsst_window_alerts(name: str, history, windows, schema_root: Path) -> list[bytes]:
    schema = load_lsst_schema("11.1", schema_root)
    encoder = LsstAlertEncoder(schema)
    return [
        serialise(schema, encoder.encode(_window(name, history, lo, hi)), 1101)
        for lo, hi in windows
    ]


def test_union_of_overlapping_histories_is_exact(schema_root: Path, tmp_path: Path) -> None:
    """Alerts of one object whose histories overlap, none holding them all, in any order and
    one of them twice: the captured curves are exactly the union, each epoch once."""
    history = _history("star-a")
    windows = [(0, 25), (10, 40), (30, 60), (5, 15)]
    payloads = _lsst_window_alerts("star-a", history, windows, schema_root)
    alerts = tmp_path / "alerts"
    alerts.mkdir()
    for i, payload in enumerate([payloads[2], payloads[0], payloads[3], payloads[1], payloads[0]]):
        (alerts / f"{i}.bin").write_bytes(payload)

    out = tmp_path / "cap"
    summary = capture_files([alerts], make_decoder(schema_dir=schema_root), out, batch_size=2)
    assert summary.messages == 5 and summary.alerts == 4
    assert summary.skipped == Counter({DUPLICATE_ALERT: 1})

    band, time, mag, err = history
    object_id = str(lsst_object_id("star-a"))
    curves = {c.band: c for c in read_lightcurve_dir(out)}
    assert set(curves) == set(band.tolist())
    n_alerts = dict(zip(*read_manifest(out).select("band", "n_alerts"), strict=True))
    for b, c in curves.items():
        mine = band == b
        assert c.object_id == object_id
        np.testing.assert_array_equal(c.time, time[mine])  # times survive exactly
        np.testing.assert_allclose(c.mag, mag[mine], atol=2e-6)  # float32 flux in the packet
        np.testing.assert_allclose(c.err, err[mine], rtol=2e-6)
        contributing = sum(bool(np.any(band[lo:hi] == b)) for lo, hi in windows)
        assert n_alerts[b] == contributing


def test_ztf_prefix_alerts_merge_to_the_last_history(tmp_path: Path) -> None:
    """ZTF alerts (containers) at the last K epochs: the union is the longest history."""
    history = _history("ztf-star", n=30, seed=3)
    curves = _window("ztf-star", history, 0, 30)
    encode = make_encoder("ztf")
    payloads = [encode(curves, upto) for upto in (20, 25, 30)]
    alerts = tmp_path / "ztf"
    alerts.mkdir()
    for i, payload in enumerate(payloads):
        (alerts / f"{i}.avro").write_bytes(payload)
    summary = capture_files([alerts], make_decoder(), tmp_path / "cap")
    assert summary.alerts == 3 and not summary.skipped
    direct = {c.band: c for c in AlertDecoder().decode_batch(payloads[-1:]).to_lightcurves()}
    written = read_lightcurve_dir(tmp_path / "cap")
    assert {c.band for c in written} == set(direct)
    for c in written:
        assert c.survey == "ZTF" and c.object_id == "ztf-star"
        np.testing.assert_array_equal(c.time, direct[c.band].time)
        np.testing.assert_array_equal(c.mag, direct[c.band].mag)


def _batch(alerts: list[tuple[str, float, list[tuple[str, float, float]]]]):
    """A DecodedBatch from (alert id, alert MJD, [(band, time, mag)]) of object "obj"."""
    builder = BatchBuilder()
    for i, (alert_id, mjd, points) in enumerate(alerts):
        band, time, mag = (np.array(x) for x in zip(*points, strict=True))
        builder.add(i, alert_id, "obj", "lsst", mjd, 1101, band, time.astype(float),
                    mag.astype(float), np.full(time.size, 0.01))
    return builder.build()


@pytest.mark.parametrize("compact_points", [1, 3, 1_000_000])
def test_merger_keeps_the_newest_alerts_row_and_compacts_losslessly(compact_points: int) -> None:
    """Where alerts disagree on an epoch the most recent alert's row wins; the result does not
    depend on when the merger compacts; --min-points leaves short curves out."""
    merger = HistoryMerger(compact_points=compact_points)
    merger.add(_batch([("a2", 61002.0, [("g", 61000.0, 18.2), ("g", 61002.0, 18.0)])]))
    merger.add(_batch([("a1", 61001.0, [("g", 61000.0, 18.1), ("g", 61001.0, 18.3),
                                       ("r", 61001.0, 17.0)])]))
    merger.add(_batch([("a3", 61003.0, [("g", 61003.0, 18.4), ("g", 61000.0, 18.9)])]))
    curves, short = merger.curves(min_points=2)
    assert short == 1  # band r: one point
    (g,) = curves
    np.testing.assert_array_equal(g.time, [61000.0, 61001.0, 61002.0, 61003.0])
    np.testing.assert_array_equal(g.mag, [18.9, 18.3, 18.0, 18.4])  # 61000 from a3
    assert g.meta == {"n_alerts": 3}
    curves, short = merger.curves(min_points=1)
    assert short == 0 and [c.band for c in curves] == ["g", "r"]


def test_option_mistakes_are_capture_errors(tmp_path: Path) -> None:
    """Bad options and paths are one-line user errors naming the fix."""
    decoder = make_decoder()
    with pytest.raises(CaptureError, match="no such file"):
        capture_files([tmp_path / "nope"], decoder, tmp_path / "out")
    with pytest.raises(CaptureError, match="--min-points must be >= 1"):
        capture_files([tmp_path], decoder, tmp_path / "out", min_points=0)
    with pytest.raises(CaptureError, match="holds no files"):
        capture_files([tmp_path], decoder, tmp_path / "out")
    runner = CliRunner()
    result = runner.invoke(app, ["capture", "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, CaptureError) and "nothing to read" in str(
        result.exception)
    result = runner.invoke(app, ["capture", str(tmp_path), "--topic", "t", "--out", "o"])
    assert isinstance(result.exception, CaptureError) and "not both" in str(result.exception)
    result = runner.invoke(app, ["capture", "--topic", "t", "--out", "o"],
                           env={"BROKER_PLUGIN_BOOTSTRAP_SERVERS": ""})
    assert "--bootstrap-servers" in str(result.exception)


# --------------------------------------------------------------------------- Kafka


@pytest.mark.kafka
def test_capture_from_kafka_topic(
    kafka_bootstrap: str, kafka_topic, schema_root: Path, tmp_path: Path
) -> None:
    """LSST alerts of three objects (overlapping histories) and two poison messages on a real
    topic of 3 partitions; the CLI drains it (idle timeout), writes the merged curves and
    counts the poison by reason; with a group, a second capture finds nothing new."""
    topic = kafka_topic(partitions=3)
    expected: dict[str, tuple[np.ndarray, ...]] = {}
    values: list[bytes] = []
    for k, name in enumerate(("kafka-a", "kafka-b", "kafka-c")):
        history = _history(name, n=40, seed=10 + k)
        expected[str(lsst_object_id(name))] = history
        values += _lsst_window_alerts(name, history, [(0, 20), (10, 30), (20, 40)], schema_root)
    good = values[0]
    values += [b"this is not an alert", good[:60]]  # bad_magic; a cut body: avro_error
    produce_all(kafka_bootstrap, topic, values)

    out = tmp_path / "cap"
    group = unique_topic_name("capture-group")
    command = [
        sys.executable, "-m", "broker_plugin", "capture", "--bootstrap-servers", kafka_bootstrap,
        "--topic", topic, "--group-id", group, "--idle-timeout-s", "3", "--schema-dir",
        str(schema_root), "--out", str(out), "-X", "fetch.wait.max.ms=100",
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120,
                         env=_env_without_schema_options())
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert "read 11 messages" in text and "9 alerts merged" in text, text
    assert "avro_error 1" in text and "bad_magic 1" in text and "idle 3 s" in text

    curves = read_lightcurve_dir(out)
    assert {c.object_id for c in curves} == set(expected)
    manifest = read_manifest(out)
    assert set(manifest["survey"].to_list()) == {"LSST"}
    for c in curves:
        band, time, _, _ = expected[c.object_id]
        np.testing.assert_array_equal(c.time, time[band == c.band])

    # The group committed what it read: a second capture with it reads nothing (exit 2).
    again = subprocess.run([*command[:-4], "--out", str(tmp_path / "again")],
                           capture_output=True, text=True, check=False, timeout=120,
                           env=_env_without_schema_options())
    assert again.returncode == 2, again.stdout + again.stderr
    assert again.stderr.startswith("error: nothing captured: no message read")


@pytest.mark.kafka
def test_capture_kafka_without_group_reads_from_the_beginning(
    kafka_bootstrap: str, kafka_topic, tmp_path: Path
) -> None:
    """No group: every partition from its start, max-messages stops; an unknown topic is a
    one-line error listing what exists."""
    topic = kafka_topic(partitions=2)
    history = _history("nogroup", n=30, seed=5)
    curves = _window("nogroup", history, 0, 30)
    encode = make_encoder("compact")
    produce_all(kafka_bootstrap, topic, [encode(curves, upto) for upto in (10, 20, 30)])
    out = tmp_path / "cap"
    summary = capture_kafka(kafka_bootstrap, [topic], make_decoder(), out, max_messages=3,
                            idle_timeout_s=20)
    assert summary.stopped_by == "max-messages" and summary.alerts == 3
    written = read_lightcurve_dir(out)
    assert sum(len(c) for c in written) == 30
    assert pl.read_csv(out / "manifest.csv")["n_alerts"].to_list() == [
        sum(bool(np.any(history[0][:u] == c.band)) for u in (10, 20, 30)) for c in written
    ]
    with pytest.raises(CaptureError, match="not found"):
        capture_kafka(kafka_bootstrap, [unique_topic_name("missing")], make_decoder(),
                      tmp_path / "x", idle_timeout_s=1)
