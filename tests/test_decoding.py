"""AlertDecoder: framing, failures, LSST/ZTF photometry rules, fast path == fastavro."""

from __future__ import annotations

import io

import fastavro
import numpy as np
import pytest

from broker_plugin.alerts import (
    LsstAlertEncoder,
    ZtfAlertEncoder,
    container,
    encode_compact,
    load_lsst_schema,
    serialise,
)
from broker_plugin.avro import schema_files as schemas
from broker_plugin.avro.framing import frame_confluent
from broker_plugin.decoding import (
    AlertDecoder,
    DecodedBatch,
    DirectorySchemaSource,
    FixedSchema,
)
from broker_plugin.decoding.photometry import njy_to_mag, ztf_dc_magnitude
from broker_plugin.lightcurve import LightCurve
from tests.lsst_packet import SCHEMA_ROOT, VERSIONS, schema_id


def _curves(n: int, seed: int = 0, name: str = "star-1") -> list[LightCurve]:
    rng = np.random.default_rng(seed)
    out = []
    for band, size in (("g", n // 2), ("r", n - n // 2)):
        t = np.sort(rng.uniform(60000, 60400, size))
        out.append(LightCurve(name, t, 17 + 0.4 * np.sin(t), rng.uniform(0.01, 0.05, size),
                              band=band))
    return out


@pytest.fixture(scope="module")
def source() -> DirectorySchemaSource:
    return DirectorySchemaSource(SCHEMA_ROOT)


def _same(a: DecodedBatch, b: DecodedBatch) -> None:
    for name in ("alert_index", "alert_id", "object_id", "survey", "alert_mjd", "schema_id",
                 "segment_alert", "segment_band", "segment_size", "time", "mag", "err"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.failures == b.failures


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("n", [30, 300, 1000])
def test_fast_equals_fastavro_on_generated_alerts(source, version, n):
    """The projection decoder gives fastavro's exact values for 30/300/1000-point alerts."""
    if n == 1000 and version not in ("8.0", "11.1"):
        pytest.skip("1000 points checked on the oldest and newest schema only (test time)")
    schema = load_lsst_schema(version, SCHEMA_ROOT)
    enc = LsstAlertEncoder(schema)
    sid = schema_id(version)
    payloads = [serialise(schema, enc.encode(_curves(n, s, f"o{s}"), forced=True), sid)
                for s in range(2)]
    fast = AlertDecoder(source).decode_batch(payloads)
    ref = AlertDecoder(source, fast=False).decode_batch(payloads)
    _same(fast, ref)
    assert fast.segment_size.sum() == 2 * n


def test_fast_equals_fastavro_with_mixed_layouts(source):
    """Records whose null pattern and varint sizes change mid-array still decode exactly."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    alert = LsstAlertEncoder(schema).encode(_curves(60), forced=True)
    rng = np.random.default_rng(3)
    for i, s in enumerate(alert["prvDiaSources"]):
        s["visit"] = int(rng.integers(1, 2**40))  # varint length varies record to record
        if i % 7 == 0:
            s["scienceFlux"] = None
        if i % 11 == 0:
            s["timeWithdrawnMjdTai"] = 60500.0
        if i % 5 == 0:
            s["band"] = "y"
        if i % 13 == 0:
            s["scienceFlux"] = -5.0
    payload = serialise(schema, alert, 1101)
    fast = AlertDecoder(source).decode_batch([payload])
    _same(fast, AlertDecoder(source, fast=False).decode_batch([payload]))
    assert "y" in set(fast.segment_band)


@pytest.mark.parametrize("sample", sorted(SCHEMA_ROOT.glob("*/*/sample_data/fakeAlert.avro")),
                         ids=lambda p: f"{p.parts[-4]}.{p.parts[-3]}")
def test_shipped_sample_alerts_decode_or_are_rejected_with_reason(source, sample):
    """Every lsst-alert-packet sample, as wire format, decodes the same both ways or is rejected."""
    major, minor = int(sample.parts[-4]), int(sample.parts[-3])
    schema = source.get(major * 100 + minor)
    record = next(iter(fastavro.reader(sample.open("rb"))))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    payload = frame_confluent(major * 100 + minor, buf.getvalue())
    fast = AlertDecoder(source).decode_batch([payload])
    _same(fast, AlertDecoder(source, fast=False).decode_batch([payload]))
    if major < 8 and major != 5:
        assert [f.reason for f in fast.failures] == ["unsupported_schema"]
        assert "scienceFlux" in fast.failures[0].message
    else:  # the samples carry no scienceFlux at all
        assert [f.reason for f in fast.failures] == ["no_points"]


def test_sample_alert_photometry_fields_match_fastavro(source):
    """The projection reads the same raw fields as fastavro on the 11.1 sample (psfFlux set)."""
    schema = source.get(1101)
    record = next(iter(fastavro.reader((SCHEMA_ROOT / "11/1/sample_data/fakeAlert.avro")
                                       .open("rb"))))
    for s in [record["diaSource"], *record["prvDiaSources"]]:
        s["scienceFlux"], s["scienceFluxErr"] = s["psfFlux"], s["psfFluxErr"]
    payload = serialise(schema, record, 1101)
    batch = AlertDecoder(source).decode_batch([payload])
    expected_mag, _ = njy_to_mag(np.float32(1241.0), np.float32(12.0))
    np.testing.assert_allclose(batch.mag, expected_mag, rtol=0, atol=1e-12)
    assert batch.object_id.tolist() == ["281323062375219201"]  # from diaObject (null in source)
    assert batch.alert_id.tolist() == ["281323062375219200"]


def test_lsst_magnitude_conversion_and_cleaning(source):
    """scienceFlux nJy → 31.4 − 2.5 log10 f; withdrawn, null and ≤0 fluxes are dropped."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    alert = LsstAlertEncoder(schema).encode(_curves(4))
    rows = [*alert["prvDiaSources"], alert["diaSource"]]
    rows[0]["scienceFlux"] = 1000.0
    rows[0]["scienceFluxErr"] = 10.0
    rows[1]["timeWithdrawnMjdTai"] = 60999.0
    rows[2]["scienceFlux"] = 0.0
    batch = AlertDecoder(source).decode_batch([serialise(schema, alert, 1101)])
    assert batch.segment_size.sum() == 2
    m = batch.mag[batch.time == rows[0]["midpointMjdTai"]]
    np.testing.assert_allclose(m, 31.4 - 2.5 * np.log10(1000.0))
    e = batch.err[batch.time == rows[0]["midpointMjdTai"]]
    np.testing.assert_allclose(e, 2.5 / np.log(10) * 10.0 / 1000.0, rtol=1e-6)


def test_forced_sources_add_points_but_not_duplicates(source):
    """Forced photometry at new epochs adds points; at a detection's epoch it is dropped."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    enc = LsstAlertEncoder(schema)
    alert = enc.encode(_curves(10), forced=True)  # forced rows duplicate detections
    extra = dict(alert["prvDiaForcedSources"][0], midpointMjdTai=59000.0)
    alert["prvDiaForcedSources"].append(extra)
    payload = serialise(schema, alert, 1101)
    assert AlertDecoder(source).decode_batch([payload]).segment_size.sum() == 11
    no_forced = AlertDecoder(source, include_forced=False).decode_batch([payload])
    assert no_forced.segment_size.sum() == 10


@pytest.mark.parametrize("version", VERSIONS)
def test_lsst_round_trip(source, version):
    """encode → decode gives the input light curves back to float32 precision."""
    curves = _curves(40)
    schema = load_lsst_schema(version, SCHEMA_ROOT)
    payload = serialise(schema, LsstAlertEncoder(schema).encode(curves), schema_id(version))
    out = {c.band: c for c in AlertDecoder(source).decode_batch([payload]).to_lightcurves()}
    for c in curves:
        np.testing.assert_array_equal(out[c.band].time, c.time)
        np.testing.assert_allclose(out[c.band].mag, c.mag, atol=1e-6)
        np.testing.assert_allclose(out[c.band].err, c.err, rtol=1e-6)


def test_ztf_real_alerts_decode_with_dc_magnitudes(shared_data):
    """Real ZTF containers decode; magnitudes are the reference-corrected apparent ones."""
    files = sorted((shared_data / "ztf_sample_alerts").glob("*.avro"))
    payloads = [f.read_bytes() for f in files]
    batch = AlertDecoder().decode_batch(payloads)
    assert not batch.failures and len(batch) == len(files)
    record = next(iter(fastavro.reader(files[0].open("rb"))))
    c = record["candidate"]
    mag, _ = ztf_dc_magnitude(np.array([c["magpsf"]]), np.array([c["sigmapsf"]]),
                              np.array([c["magnr"]]), np.array([c["sigmagnr"]]),
                              np.array([c["isdiffpos"] in ("t", "1")]))
    t = c["jd"] - 2400000.5
    row = batch.alert_id.tolist().index(str(c["candid"]))
    assert batch.alert_mjd[row] == t
    assert np.isclose(batch.mag[batch.time == t], mag).all()
    rows = [c, *record["prv_candidates"]]
    # detections whose nearest reference source is the candidate itself (distnr ≤ 1.4")
    detections = sum(p["magpsf"] is not None and p["distnr"] <= 1.4 for p in rows)
    assert detections < sum(p["magpsf"] is not None for p in rows)  # the rule is exercised
    assert batch.segment_size[batch.segment_alert == row].sum() == detections


def test_ztf_dc_magnitude_sign_and_unphysical():
    """isdiffpos f subtracts the difference flux; a total flux ≤ 0 gives NaN (dropped)."""
    mag, err = ztf_dc_magnitude(np.array([15.0, 15.0, 14.0]), np.array([0.1, 0.1, 0.1]),
                                np.array([15.0, 15.0, 15.0]), np.array([0.0, 0.0, 0.0]),
                                np.array([True, False, False]))
    np.testing.assert_allclose(mag[0], 15.0 - 2.5 * np.log10(2.0))
    assert np.isnan(mag[1]) and np.isnan(mag[2])
    np.testing.assert_allclose(err[0], 0.1 / 2.0, rtol=1e-12)


def test_ztf_round_trip():
    """ZTF encode → decode recovers the apparent magnitudes (float32 packet precision)."""
    curves = _curves(30)
    schema = schemas.load(schemas.ZTF_ALERT)
    payload = container(schema, [ZtfAlertEncoder(schema).encode(curves)])
    out = {c.band: c for c in AlertDecoder().decode_batch([payload]).to_lightcurves()}
    for c in curves:
        np.testing.assert_allclose(out[c.band].time, c.time, atol=1e-8)
        np.testing.assert_allclose(out[c.band].mag, c.mag, atol=1e-5)
        np.testing.assert_allclose(out[c.band].err, c.err, rtol=1e-4)


def test_compact_schemaless_round_trip():
    """A compact alert read as schemaless Avro with a fixed schema gives the curves back."""
    curves = _curves(12)
    schema = schemas.load(schemas.COMPACT_ALERT)
    batch = AlertDecoder(FixedSchema(schema)).decode_batch([serialise(schema,
                                                                       encode_compact(curves))])
    assert batch.survey.tolist() == ["compact"]
    out = {c.band: c for c in batch.to_lightcurves()}
    for c in curves:
        np.testing.assert_array_equal(out[c.band].mag, c.mag)


def test_failures_carry_reasons_and_batch_goes_on(source):
    """Bad magic, unknown id, truncated body and 7.x are reasons; the good alert still decodes."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    good = serialise(schema, LsstAlertEncoder(schema).encode(_curves(20)), 1101)
    payloads = [b"\x01garbage", frame_confluent(4242, b"xx"), good[:200], good, b"",
                frame_confluent(700, b"\x00")]
    for fast in (True, False):
        batch = AlertDecoder(source, fast=fast).decode_batch(payloads)
        reasons = {f.index: f.reason for f in batch.failures}
        assert reasons == {0: "bad_magic", 1: "unknown_schema", 2: "avro_error",
                           4: "empty_payload", 5: "unsupported_schema"}
        assert batch.alert_index.tolist() == [3]
        assert batch.failures[1].schema_id == 4242


def test_segments_are_time_sorted_per_band(source):
    """Each segment is one band of one alert, its times ascending, sizes summing to points."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    enc = LsstAlertEncoder(schema)
    payloads = [serialise(schema, enc.encode(_curves(25, s, f"o{s}")), 1101) for s in range(3)]
    batch = AlertDecoder(source).decode_batch(payloads)
    assert batch.segment_alert.tolist() == [0, 0, 1, 1, 2, 2]
    for start, size in zip(batch.segment_start, batch.segment_size, strict=True):
        assert np.all(np.diff(batch.time[start:start + size]) > 0)
    assert batch.segment_size.sum() == batch.time.size


class _DownRegistry:
    """A schema source whose registry is down: every look-up is an outage."""

    def get(self, schema_id: int | None) -> dict[str, object]:
        from broker_plugin.decoding import SchemaRegistryUnavailableError

        raise SchemaRegistryUnavailableError("registry http://r:8081 down", "http://r:8081")


def test_registry_outage_stops_the_batch_instead_of_dead_lettering_it(source):
    """An alert whose schema cannot be fetched is not a bad alert: the batch raises, so the
    consumer rewinds and retries it rather than dead-lettering alerts during an outage."""
    from broker_plugin.decoding import SchemaRegistryUnavailableError

    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    good = serialise(schema, LsstAlertEncoder(schema).encode(_curves(20)), 1101)
    for fast in (True, False):
        with pytest.raises(SchemaRegistryUnavailableError, match="down"):
            AlertDecoder(_DownRegistry(), fast=fast).decode_batch([b"\x01garbage", good])


def test_container_schemas_share_one_cached_layout(source):
    """Each container message parses its own copy of the schema; the decoder keys its layout
    cache by the schema's text, so it holds one entry, not one per message."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    encoder = LsstAlertEncoder(schema)
    decoder = AlertDecoder(None)
    payloads = [container(schema, [encoder.encode(_curves(10, seed, f"o{seed}"))])
                for seed in range(5)]
    for payload in payloads:
        assert decoder.decode_batch([payload]).failures == []
    assert len(decoder._layouts) == 1
