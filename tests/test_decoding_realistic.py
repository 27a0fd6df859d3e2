"""Projection decoder on realistic LSST streams: layouts vary per record, values == fastavro."""

from __future__ import annotations

import numpy as np
import pytest

from broker_plugin.alerts import (
    LsstAlertEncoder,
    ZtfAlertEncoder,
    container,
    load_lsst_schema,
    serialise,
)
from broker_plugin.avro import schema_files as schemas
from broker_plugin.avro.binary import encode_long, read_long
from broker_plugin.avro.vectorised import string_end, varint_end, varint_values
from broker_plugin.decoding import AlertDecoder, DecodedBatch, DirectorySchemaSource
from broker_plugin.lightcurve import LightCurve
from tests.lsst_packet import SCHEMA_ROOT, VERSIONS, schema_id


def _curves(n: int, seed: int = 0, name: str = "star-1") -> list[LightCurve]:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(60000, 60400, n))
    band = rng.choice(list("ugrizy"), n)
    return [LightCurve(name, t[band == b], 17 + 0.4 * np.sin(t[band == b]),
                       rng.uniform(0.01, 0.05, int((band == b).sum())), band=str(b))
            for b in sorted(set(band))]


@pytest.fixture(scope="module")
def source() -> DirectorySchemaSource:
    return DirectorySchemaSource(SCHEMA_ROOT)


def _same(a: DecodedBatch, b: DecodedBatch) -> None:
    for name in ("alert_index", "alert_id", "object_id", "survey", "alert_mjd", "schema_id",
                 "segment_alert", "segment_band", "segment_size", "time", "mag", "err"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.failures == b.failures


def _fallbacks(decoder: AlertDecoder) -> int:
    return sum(p.fallbacks for p in decoder._plans.values())


def _varint_len(value: int) -> int:
    return len(encode_long(value))


def test_realistic_encoder_varies_layouts():
    """Realistic alerts change id varint lengths, detectors past 63 and null patterns per record."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    alert = LsstAlertEncoder(schema, realistic=True).encode(_curves(200), forced=True)
    rows = alert["prvDiaSources"]
    assert len({_varint_len(r["diaSourceId"]) for r in rows}) >= 2
    assert max(r["diaSourceId"] for r in rows) >= 2**62
    assert {r["detector"] >= 64 for r in rows} == {True, False}
    assert all(0 <= r["detector"] < 189 for r in rows)
    assert len({tuple(v is None for v in r.values()) for r in rows}) > 50
    assert len({r["psfNdata"] for r in rows}) > 50
    friendly = LsstAlertEncoder(schema).encode(_curves(200), forced=True)["prvDiaSources"]
    assert len({tuple(v is None for v in r.values()) for r in friendly}) == 1


def test_realistic_encoding_is_reproducible():
    """The same curves give the same realistic packet (seeded from the object and history)."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    enc = LsstAlertEncoder(schema, realistic=True)
    assert serialise(schema, enc.encode(_curves(20))) == serialise(schema, enc.encode(_curves(20)))


@pytest.mark.parametrize("version", VERSIONS)
def test_fast_equals_fastavro_on_realistic_alerts_every_schema(source, version):
    """On realistic alerts of every schema the chain path is taken and equals fastavro."""
    schema = load_lsst_schema(version, SCHEMA_ROOT)
    enc = LsstAlertEncoder(schema, realistic=True)
    sid = schema_id(version)
    payloads = [serialise(schema, enc.encode(_curves(n, s, f"o{s}"), forced=True), sid)
                for s, n in enumerate((1, 2, 31, 120))]
    fast = AlertDecoder(source)
    _same(fast.decode_batch(payloads), AlertDecoder(source, fast=False).decode_batch(payloads))
    assert _fallbacks(fast) == 0


def test_fast_equals_fastavro_on_long_realistic_history(source):
    """A 1000-point realistic 11.1 alert decodes exactly, without falling back."""
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    payload = serialise(schema, LsstAlertEncoder(schema, realistic=True).encode(
        _curves(1000, 7), forced=True), 1101)
    fast = AlertDecoder(source)
    batch = fast.decode_batch([payload])
    _same(batch, AlertDecoder(source, fast=False).decode_batch([payload]))
    assert _fallbacks(fast) == 0 and batch.time.size > 900


def _realistic_alert(n: int = 40) -> tuple[dict, dict]:
    schema = load_lsst_schema("11.1", SCHEMA_ROOT)
    return schema, LsstAlertEncoder(schema, realistic=True).encode(_curves(n, 3), forced=True)


@pytest.mark.parametrize("change", ["null_object_id", "other_object", "long_string",
                                    "small_object_id"])
def test_alerts_the_chain_cannot_read_fall_back_to_fastavro(source, change):
    """Null or foreign diaObjectIds, long strings and tiny ids still give fastavro's values."""
    schema, alert = _realistic_alert()
    prv = alert["prvDiaSources"]
    if change == "null_object_id":
        alert["diaSource"]["diaObjectId"] = None
    elif change == "other_object":
        prv[5]["diaObjectId"] = prv[5]["diaObjectId"] ^ 1
    elif change == "long_string":
        prv[3]["reliabilityVersion"] = "x" * 300
    else:
        for row in [alert["diaSource"], *prv, *alert["prvDiaForcedSources"]]:
            row["diaObjectId"] = 7
    payload = serialise(schema, alert, 1101)
    fast = AlertDecoder(source)
    _same(fast.decode_batch([payload]), AlertDecoder(source, fast=False).decode_batch([payload]))
    if change != "long_string":  # a long string may or may not fit the search window
        assert _fallbacks(fast) == 1


def test_truncated_realistic_payload_fails_like_fastavro(source):
    """A body cut inside prvDiaSources is an avro_error with either decoder; others go on."""
    schema, alert = _realistic_alert(60)
    good = serialise(schema, alert, 1101)
    payloads = [good, good[: len(good) // 3], good]
    fast = AlertDecoder(source).decode_batch(payloads)
    _same(fast, AlertDecoder(source, fast=False).decode_batch(payloads))
    assert [f.reason for f in fast.failures] == ["avro_error"]
    assert fast.alert_index.tolist() == [0, 2]


def test_mixed_batch_keeps_input_order(source):
    """LSST bodies decoded together still come out in input order among ZTF containers."""
    schema, alert = _realistic_alert(20)
    ztf_schema = schemas.load(schemas.ZTF_ALERT)
    ztf = container(ztf_schema, [ZtfAlertEncoder(ztf_schema).encode(
        [c for c in _curves(20, 5, "z") if c.band in "gri"])])
    lsst = serialise(schema, alert, 1101)
    payloads = [ztf, lsst, b"\x07junk", ztf, lsst]
    fast = AlertDecoder(source).decode_batch(payloads)
    _same(fast, AlertDecoder(source, fast=False).decode_batch(payloads))
    assert fast.survey.tolist() == ["ztf", "lsst", "ztf", "lsst"]


def test_walker_varints_and_strings():
    """Vectorised varint ends/values and string ends match Avro's encoding."""
    data = bytes([0x00, 0x96, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x06]) + b"abc" + bytes(20)
    arr = np.frombuffer(data, np.uint8)
    pos = np.array([0, 1, 3], dtype=np.int64)
    np.testing.assert_array_equal(varint_end(arr, pos), [1, 3, 8])
    values, _ = varint_values(arr, pos)
    np.testing.assert_array_equal(values, [0, 75, -(2**31)])
    np.testing.assert_array_equal(string_end(arr, np.array([8])), [12])


def test_scalar_and_vectorised_varints_agree():
    """broker_plugin.avro: encode_long, read_long and varint_values are one encoding (int64)."""
    rng = np.random.default_rng(1)
    values = [0, -1, 1, 63, 64, -64, -65, 2**31, -(2**31), 2**63 - 1, -(2**63)]
    values += rng.integers(-(2**63), 2**63 - 1, 200, dtype=np.int64).tolist()
    values += rng.integers(-300, 300, 200).tolist()
    chunks = [encode_long(v) for v in values]
    buf = b"".join(chunks) + bytes(10)
    starts = np.cumsum([0] + [len(c) for c in chunks[:-1]]).astype(np.int64)
    got, ends = varint_values(np.frombuffer(buf, np.uint8), starts)
    assert got.tolist() == values
    np.testing.assert_array_equal(ends, starts + [len(c) for c in chunks])
    np.testing.assert_array_equal(varint_end(np.frombuffer(buf, np.uint8), starts), ends)
    pos = 0
    for v in values:
        value, pos = read_long(buf, pos)
        assert value == v


def test_walker_marks_corrupt_varints_far_past_the_payload():
    """A varint without a terminator within 10 bytes sends the position out of any payload."""
    arr = np.frombuffer(bytes([0xFF] * 12), np.uint8)
    assert varint_end(arr, np.array([0]))[0] > 2**39
