"""Our Avro schemas (broker_plugin.avro.schema_files): they parse, round-trip a record, and
ship with the package (broker_plugin.avro.schema_files, the one lookup)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import fastavro
import pytest

from broker_plugin.avro import schema_files as schemas

RECORDS = {
    schemas.CLASSIFICATION: {
        "alert_id": "281323062375219200", "object_id": "281323062375219201", "survey": "lsst",
        "schema_id": 1101, "alert_mjd": 60902.99, "classifier": "cnn-selfreg",
        "classifier_version": "1.0.0", "classes": ["CEP", "RRLYR"],
        "probabilities": {"CEP": 0.25, "RRLYR": 0.75}, "predicted_class": "RRLYR",
        "probability": 0.75,
        "bands": [{"band": "g", "points": 40, "probabilities": {"CEP": 0.25, "RRLYR": 0.75},
                   "predicted_class": "RRLYR"}],
        "points_per_band": {"g": 40, "r": 3}, "ingest_time_ms": 1_700_000_000_000,
        "publish_time_ms": 1_700_000_000_050,
        "unknown_score": 0.21,
        "is_unknown": True,
    },
    schemas.COMPACT_ALERT: {
        "alert_id": "a1", "object_id": "o1", "alert_mjd": 60000.5, "origin": "simulator",
        "bands": [{"band": "r", "time": [60000.0, 60000.5], "mag": [17.0, 17.2],
                   "err": [0.01, 0.02]}],
    },
}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_schema_round_trips_a_record(name):
    """Each schema parses with fastavro and a record comes back unchanged."""
    schema = schemas.load(name)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, RECORDS[name])
    buf.seek(0)
    assert fastavro.schemaless_reader(buf, schema, None) == RECORDS[name]


def test_schemas_are_namespaced():
    """Every schema of ours has a namespace (ZTF's subset keeps ZTF's)."""
    for name in schemas.NAMES:
        schema = schemas.load(name)
        assert "." in schema["name"], name


def test_unknown_schema_name_lists_choices():
    """Asking for a schema we do not have names the valid ones."""
    with pytest.raises(KeyError, match="classification"):
        schemas.schema_path("nope")


@pytest.mark.slow
def test_wheel_ships_the_schemas(tmp_path: Path):
    """A built wheel contains the .avsc files where `schemas.schema_dir` looks for them."""
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"  # build a copy: setuptools writes build/ beside the sources
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "broker_plugin", "training", "schemas"):
        copy = shutil.copytree if (root / part).is_dir() else shutil.copy2
        copy(root / part, src / part, **({"symlinks": True} if copy is shutil.copytree else {}))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for name in schemas.NAMES:
        assert f"broker_plugin/_schemas/{name}.avsc" in names
