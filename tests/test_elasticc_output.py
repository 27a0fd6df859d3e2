"""`--output-format elasticc`: ELAsTiCC brokerClassification v0.9.1 records, wire-framed."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import numpy as np
import pytest

from broker_plugin.alerts import container, encode_compact
from broker_plugin.avro import schema_files as schemas
from broker_plugin.serving.config import ConfigError
from broker_plugin.serving.elasticc import (
    NOT_CLASSIFIED,
    OTHER_PERIODIC,
    UNENCODABLE_ID,
    UNKNOWN_SHARE,
    ElasticcIdError,
    ElasticcMapper,
    ElasticcPipeline,
    ElasticcSerializer,
    package_version,
)
from broker_plugin.serving.service import make_decoder, make_serializer, output_pipeline
from devtools.model_fixture import write_fixture_model
from devtools.serving_data import periodic_curves

CLASSES = ["CEP", "DSCT", "ECL", "LPV", "RRLYR"]  # the shipped model's order
IDS = {"CEP": 2322, "RRLYR": 2323, "DSCT": 2324, "ECL": 2325, "LPV": 2326}


def _record(probabilities: dict[str, float], unknown: bool = False, **changes) -> dict:
    """An output record as `RecordBuilder` writes it for an LSST alert."""
    top = max(probabilities, key=probabilities.__getitem__)
    record = {
        "alert_id": "281323062375219200",
        "object_id": "281323062375219201",
        "survey": "lsst",
        "schema_id": 1101,
        "alert_mjd": 60902.99,
        "classifier": "selfreg-cnn-multisurvey",
        "classifier_version": "2026.12.07",
        "classes": list(probabilities),
        "probabilities": dict(probabilities),
        "predicted_class": "unknown" if unknown else top,
        "probability": probabilities[top],
        "bands": [{"band": "g", "points": 40, "probabilities": dict(probabilities),
                   "predicted_class": top}],
        "points_per_band": {"g": 40, "r": 3},
        "ingest_time_ms": 1_767_052_800_123,
        "publish_time_ms": 1_767_052_800_180,
        "unknown_score": 0.61 if unknown else 0.12,
        "is_unknown": unknown,
    }
    record.update(changes)
    return record


# float32 softmax outputs stored as float64, as the pipeline's records carry them
PROBS = dict(zip(CLASSES, np.float32([0.05, 0.02, 0.08, 0.15, 0.7]).tolist(), strict=True))


def _decode(data: bytes) -> tuple[int, dict]:
    """(schema id, record) of a Confluent-framed brokerClassification message."""
    assert data[:1] == b"\x00"
    (schema_id,) = struct.unpack(">I", data[1:5])
    body = fastavro.schemaless_reader(io.BytesIO(data[5:]), schemas.load(schemas.ELASTICC), None)
    return schema_id, body


def _by_id(message: dict) -> dict[int, float]:
    ids = [c["classId"] for c in message["classifications"]]
    assert len(ids) == len(set(ids)), ids
    return {c["classId"]: c["probability"] for c in message["classifications"]}


def test_schema_parses_with_fastavro_and_has_elasticcs_fields() -> None:
    """The .avsc parses; name, namespace, field order and types are ELAsTiCC v0.9.1's."""
    raw = schemas.raw(schemas.ELASTICC)
    assert (raw["namespace"], raw["name"]) == ("elasticc.v0_9_1", "brokerClassification")
    parsed = schemas.load(schemas.ELASTICC)
    assert parsed["name"] == "elasticc.v0_9_1.brokerClassification"
    fields = {f["name"]: f["type"] for f in raw["fields"]}
    assert list(fields) == [
        "alertId", "diaSourceId", "elasticcPublishTimestamp", "brokerIngestTimestamp",
        "brokerName", "brokerVersion", "classifierName", "classifierParams", "classifications",
    ]
    assert fields["alertId"] == fields["diaSourceId"] == "long"
    assert fields["elasticcPublishTimestamp"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["brokerIngestTimestamp"] == ["null", fields["elasticcPublishTimestamp"]]
    assert next(f for f in raw["fields"] if f["name"] == "brokerIngestTimestamp")["default"] is None
    items = fields["classifications"]["items"]
    assert [(f["name"], f["type"]) for f in items["fields"]] == [
        ("classId", "int"), ("probability", "float")
    ]


def test_record_round_trips_through_confluent_framing() -> None:
    """A real-looking record: framed with the schema id, classIds mapped, probabilities kept
    (to float32) and summing to 1, ids and timestamps in place."""
    data = ElasticcSerializer(schema_id=77).serialize(_record(PROBS))
    schema_id, message = _decode(data)
    assert schema_id == 77
    assert message["alertId"] == message["diaSourceId"] == 281323062375219200
    when = datetime.fromtimestamp(1_767_052_800.123, tz=UTC)
    assert message["elasticcPublishTimestamp"] == message["brokerIngestTimestamp"] == when
    assert message["brokerName"] == "selfreg-varstars"
    assert message["brokerVersion"] == package_version() != ""
    assert message["classifierName"] == "selfreg-cnn-multisurvey"
    assert message["classifierParams"] == "2026.12.07"
    got = _by_id(message)
    assert sorted(got) == sorted(IDS.values())  # no 300 entry: not flagged unknown
    for name, p in PROBS.items():
        assert got[IDS[name]] == pytest.approx(p, abs=1e-6)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-6)


def test_compiled_writer_matches_fastavro() -> None:
    """The compiled writer (fast path) writes fastavro's bytes for the converted record."""
    serializer = ElasticcSerializer(schema_id=3)
    assert serializer._write is not None  # the schema is one the compiled writer covers
    record = _record(PROBS, unknown=True)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schemas.load(schemas.ELASTICC),
                               serializer.mapper.convert(record))
    assert serializer.serialize(record)[5:] == buf.getvalue()


def test_unknown_adds_class_300_with_the_stated_share() -> None:
    """is_unknown: classId 300 gets UNKNOWN_SHARE, the classes the rest in proportion; the
    total stays 1 and 300 is the top entry, as predicted_class 'unknown' says."""
    _, message = _decode(ElasticcSerializer().serialize(_record(PROBS, unknown=True)))
    got = _by_id(message)
    assert got[NOT_CLASSIFIED] == pytest.approx(UNKNOWN_SHARE)
    for name, p in PROBS.items():
        assert got[IDS[name]] == pytest.approx(p * (1 - UNKNOWN_SHARE), abs=1e-6)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(got, key=got.__getitem__) == NOT_CLASSIFIED


def test_probabilities_sum_to_one_for_many_records() -> None:
    """Random float32 softmax rows, flagged or not, any number of classes (unmapped ones
    included): the decoded float probabilities sum to 1 within 1e-6."""
    rng = np.random.default_rng(5)
    serializer = ElasticcSerializer()
    names = [*CLASSES, "BCEP", "SPB", "GDOR"]
    for i in range(300):
        k = int(rng.integers(1, len(names) + 1))
        logits = rng.normal(scale=rng.uniform(0.1, 8), size=k)
        p = np.exp(logits - logits.max()).astype(np.float32)
        p /= p.sum()
        record = _record(dict(zip(names[:k], p.tolist(), strict=True)), unknown=bool(i % 3 == 0))
        got = _by_id(_decode(serializer.serialize(record))[1])
        assert sum(got.values()) == pytest.approx(1.0, abs=1e-6)
        assert (NOT_CLASSIFIED in got) == record["is_unknown"]


def test_classes_without_an_elasticc_id_are_summed_into_other_periodic() -> None:
    """BCEP and SPB (no ELAsTiCC id) become one 2321 entry holding their sum."""
    probs = {"CEP": 0.1, "BCEP": 0.2, "RRLYR": 0.4, "SPB": 0.3}
    got = _by_id(ElasticcMapper("1.0").convert(_record(probs)))
    assert got == pytest.approx({2322: 0.1, OTHER_PERIODIC: 0.5, 2323: 0.4})


def test_degenerate_probabilities_become_not_classified() -> None:
    """NaN or all-zero probabilities cannot be normalised: one {300: 1} entry."""
    mapper = ElasticcMapper("1.0")
    for probs in ({"CEP": float("nan"), "RRLYR": 0.5}, {"CEP": 0.0, "RRLYR": 0.0}):
        assert mapper.convert(_record(probs))["classifications"] == [
            {"classId": NOT_CLASSIFIED, "probability": 1.0}
        ]


@pytest.mark.parametrize("alert_id", ["demo-a1", "ZTF18abcdefg", "", "12.5", str(2**63), "١٢"])
def test_id_that_is_not_a_long_is_a_clean_error(alert_id: str) -> None:
    """The serializer refuses with ElasticcIdError (a ValueError with the DLQ reason code)
    naming the id and the flag; it never writes a wrong id."""
    with pytest.raises(ElasticcIdError, match="--output-format elasticc") as err:
        ElasticcSerializer().serialize(_record(PROBS, alert_id=alert_id))
    assert err.value.reason == UNENCODABLE_ID
    assert repr(alert_id) in str(err.value)


def test_numeric_ids_of_other_surveys_pass_through() -> None:
    """A ZTF candid (int or text) is a long: it is carried as it is."""
    mapper = ElasticcMapper("1.0")
    for alert_id in (2_510_404_115_015_015_003, "2510404115015015003"):
        message = mapper.convert(_record(PROBS, alert_id=alert_id, survey="ztf"))
        assert message["alertId"] == message["diaSourceId"] == 2_510_404_115_015_015_003


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture_model(tmp_path_factory.mktemp("model"))


def _compact_payloads(alert_ids: list[str]) -> list[bytes]:
    """One compact-alert container per id (periodic stars, two bands of ~20 points)."""
    curves = periodic_curves(len(alert_ids), points=40, seed=3)
    schema = schemas.load(schemas.COMPACT_ALERT)
    payloads = []
    for i, alert_id in enumerate(alert_ids):
        alert = encode_compact([c for c in curves if c.object_id == f"star{i:03d}"])
        payloads.append(container(schema, [{**alert, "alert_id": alert_id}]))
    return payloads


def test_pipeline_dead_letters_text_ids_and_keeps_the_rest(model_dir: Path) -> None:
    """`run --output-format elasticc`: text ids go to the dead-letter path (reason
    unencodable_id, input index kept), numeric ones are classified and serialise."""
    from broker_plugin.serving.classifier import Classifier
    from broker_plugin.serving.pipeline import AlertPipeline

    payloads = _compact_payloads(["1001", "demo-a1", "1003", "demo-a4"])
    plain = AlertPipeline(make_decoder(None, None), Classifier(model_dir))
    pipeline = output_pipeline(plain, "elasticc")
    assert isinstance(pipeline, ElasticcPipeline)
    assert output_pipeline(plain, "avro") is plain
    outcome = pipeline.process(payloads, 1_767_052_800_000)
    assert [c.index for c in outcome.classified] == [0, 2]
    assert [(r.index, r.reason) for r in outcome.rejected] == [
        (1, UNENCODABLE_ID), (3, UNENCODABLE_ID)
    ]
    assert "'demo-a1'" in outcome.rejected[0].message
    assert outcome.probabilities is not None and outcome.probabilities.shape[0] == 2
    assert len(outcome.predicted) == 2
    serializer = ElasticcSerializer()
    ids = [_decode(serializer.serialize(c.record))[1]["alertId"] for c in outcome.classified]
    assert ids == [1001, 1003]
    # nothing to move: the outcome passes through untouched
    clean = pipeline.process(payloads[::2], 1_767_052_800_000)
    assert not clean.rejected and len(clean.classified) == 2


from tests.run_config import serving_config as _config  # noqa: E402


def test_config_accepts_elasticc_and_builds_its_serializer() -> None:
    """output_format 'elasticc' is valid; make_serializer gives the ELAsTiCC writer whose
    content-type names the schema; a bad format names the flag and the choices."""
    serializer = make_serializer(_config(output_format="elasticc"))
    assert isinstance(serializer, ElasticcSerializer)
    assert serializer.format == "elasticc"
    assert serializer.headers == [(
        "content-type",
        b"application/vnd.confluent.avro; schema=elasticc.v0_9_1.brokerClassification",
    )]
    with pytest.raises(ConfigError, match=r"--output-format must be .*'elasticc'"):
        _config(output_format="votable")


def test_cli_run_accepts_output_format_elasticc(model_dir: Path, monkeypatch) -> None:
    """`broker-plugin run --output-format elasticc` (and the env var) reach the config; an
    unknown format is a ConfigError naming the option."""
    from tests.run_config import config_built_by_run

    schema = {"BROKER_PLUGIN_SCHEMA_DIR": str(model_dir), "BROKER_PLUGIN_SURVEY": "lsst"}
    flag = config_built_by_run(model_dir, monkeypatch, ["--output-format", "elasticc"], schema)
    env = config_built_by_run(model_dir, monkeypatch, [],
                              {**schema, "BROKER_PLUGIN_OUTPUT_FORMAT": "elasticc"})
    assert flag.output_format == env.output_format == "elasticc"
    with pytest.raises(ConfigError, match="--output-format"):
        config_built_by_run(model_dir, monkeypatch, ["--output-format", "votable"], schema)
