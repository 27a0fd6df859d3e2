"""Encoders: valid packets for each schema, last point triggers, history truncation."""

from __future__ import annotations

import fastavro
import numpy as np
import pytest
from fastavro.validation import validate

from broker_plugin.alerts import (
    LsstAlertEncoder,
    ZtfAlertEncoder,
    encode_compact,
    load_lsst_schema,
    lsst_object_id,
)
from broker_plugin.avro import schema_files as schemas
from broker_plugin.decoding.schema_sources import SchemaSourceError
from broker_plugin.lightcurve import LightCurve

pytest.importorskip("lsst.alert.packet")


def _curves() -> list[LightCurve]:
    t = np.arange(10.0) + 60000.0
    return [LightCurve("star-9", t[::2], 17 + 0.1 * t[::2] % 1, np.full(5, 0.02), band="g"),
            LightCurve("star-9", t[1::2], 16 + 0.1 * t[1::2] % 1, np.full(5, 0.03), band="r")]


@pytest.mark.parametrize("version", ["8.0", "9.0", "10.0", "11.0", "11.1"])
def test_lsst_alert_is_valid_for_schema(version):
    """The alert validates against the schema; last point is diaSource, earlier prv."""
    schema = load_lsst_schema(version)
    alert = LsstAlertEncoder(schema).encode(_curves())
    assert validate(alert, schema, raise_errors=True)
    assert alert["diaSource"]["midpointMjdTai"] == 60009.0
    assert [s["midpointMjdTai"] for s in alert["prvDiaSources"]] == list(np.arange(9.0) + 60000)
    assert alert["diaSource"]["diaObjectId"] == lsst_object_id("star-9")


def test_lsst_upto_keeps_history_before():
    """`upto=k` builds the alert of the k-th point with the k−1 before it as history."""
    schema = load_lsst_schema("11.1")
    alert = LsstAlertEncoder(schema).encode(_curves(), upto=4)
    assert alert["diaSource"]["midpointMjdTai"] == 60003.0
    assert len(alert["prvDiaSources"]) == 3


def test_lsst_7x_cannot_be_encoded():
    """7.x has no scienceFlux, so the encoder refuses it with a clear error."""
    with pytest.raises(SchemaSourceError, match=r"8\.0 or later"):
        LsstAlertEncoder(load_lsst_schema("7.4"))


def test_lsst_schema_dir_missing_version(tmp_path):
    """Asking a schema directory for a version it lacks names the expected file."""
    with pytest.raises(SchemaSourceError, match=r"lsst\.v11_1\.alert\.avsc"):
        load_lsst_schema("11.1", tmp_path)


def test_ztf_alert_valid_for_our_and_real_schema(shared_data):
    """ZTF alerts validate against our subset schema and the real ZTF 3.x schema."""
    real = fastavro.reader((next((shared_data / "ztf_sample_alerts").glob("*.avro"))).open("rb"))
    for schema in (schemas.load(schemas.ZTF_ALERT), fastavro.parse_schema(real.writer_schema)):
        alert = ZtfAlertEncoder(schema).encode(_curves())
        assert validate(alert, schema, raise_errors=True)
        assert alert["candidate"]["jd"] == 60009.0 + 2400000.5
        assert {p["isdiffpos"] for p in alert["prv_candidates"]} == {"t", "f"}


def test_ztf_rejects_foreign_bands():
    """Bands other than g, r, i cannot be ZTF alerts."""
    curve = LightCurve("x", [1.0], [15.0], [0.1], band="I")
    with pytest.raises(ValueError, match="g, r, i"):
        ZtfAlertEncoder(schemas.load(schemas.ZTF_ALERT)).encode([curve])


def test_compact_alert_valid_and_grouped_by_band():
    """The compact alert validates and carries one entry per band."""
    alert = encode_compact(_curves(), upto=5)
    assert validate(alert, schemas.load(schemas.COMPACT_ALERT), raise_errors=True)
    assert [b["band"] for b in alert["bands"]] == ["g", "r"]
    assert sum(len(b["time"]) for b in alert["bands"]) == 5
    assert alert["alert_mjd"] == 60004.0
