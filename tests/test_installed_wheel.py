"""What a user installs: the wheel, without [train], running the documented commands.

These tests build this checkout's wheel, install it into a venv that has the serving
dependencies only (tests/wheel_support.py), and run `broker-plugin` from a folder outside
the checkout: classify real ZTF alerts and a light-curve directory, produce every alert
format to the test broker, and serve them with `run`'s default (Avro) output, read back.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import fastavro
import numpy as np
import pytest

from broker_plugin.avro import schema_files as schemas
from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import write_lightcurve_dir
from devtools.kafka_support import create_topics, read_topic, unique_topic_name
from tests.wheel_support import build_wheel, install, serving_venv

N_OBJECTS = 6


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The wheel installed in the serving venv; `cwd` is a scratch folder outside the repo."""
    venv = serving_venv()
    install(venv, build_wheel(tmp_path_factory.mktemp("wheel")))
    return {"bin": venv / "bin", "cwd": tmp_path_factory.mktemp("user")}


def _run(installed: dict[str, Path], *args: str, timeout: float = 180
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(installed["bin"] / args[0]), *args[1:]], cwd=installed["cwd"],
                          capture_output=True, text=True, timeout=timeout)


def _curves() -> list[LightCurve]:
    rng = np.random.default_rng(3)
    curves = []
    for i in range(N_OBJECTS):
        for band in ("g", "r"):
            t = np.sort(rng.uniform(60000, 60400, 60))
            mag = 18 + 0.4 * np.sin(2 * np.pi * t / (0.5 + i)) + rng.normal(0, 0.02, t.size)
            curves.append(LightCurve(f"{1000 + i}", t, mag, np.full(t.size, 0.02), band=band))
    return curves


@pytest.fixture(scope="module")
def curve_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("curves") / "lc"
    write_lightcurve_dir(out, _curves())
    return out


def test_the_wheel_serves_without_torch(installed: dict[str, Path]) -> None:
    """No torch in the venv, and the package comes from site-packages, not the checkout."""
    probe = _run(installed, "python", "-c",
                 "import importlib.util, broker_plugin; "
                 "print(importlib.util.find_spec('torch') is None, broker_plugin.__file__)")
    assert probe.returncode == 0, probe.stderr
    no_torch, where = probe.stdout.split()
    assert no_torch == "True" and "site-packages" in where


@pytest.mark.shared_data
def test_classify_real_ztf_alerts_with_the_shipped_model(installed: dict[str, Path],
                                                         shared_data: Path) -> None:
    ztf = shared_data / "ztf_sample_alerts"
    if not ztf.is_dir():
        pytest.skip(f"needs {ztf}")
    result = _run(installed, "broker-plugin", "classify", "--out", "ztf.jsonl", str(ztf))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (installed["cwd"] / "ztf.jsonl").read_text().splitlines()
    assert lines and "selfreg-cnn-multisurvey" in lines[0]


def test_classify_a_light_curve_directory(installed: dict[str, Path], curve_dir: Path) -> None:
    result = _run(installed, "broker-plugin", "classify", "--out", "lc.jsonl", str(curve_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len((installed["cwd"] / "lc.jsonl").read_text().splitlines()) == N_OBJECTS


@pytest.mark.parametrize("fmt", ["lsst", "ztf", "compact"])
def test_produce_then_run_with_the_default_output(installed: dict[str, Path], curve_dir: Path,
                                                  kafka_bootstrap: str, fmt: str) -> None:
    """`produce --format F` to the test broker, `run` with its default Avro output: one
    record per object, decoded with our classification schema."""
    from tests.lsst_packet import SCHEMA_ROOT

    topics = {k: unique_topic_name(f"wheel-{fmt}-{k}") for k in ("in", "out", "dlq")}
    create_topics(kafka_bootstrap, topics.values())
    schema = ["--schema-dir", str(SCHEMA_ROOT)] if fmt == "lsst" else []
    produced = _run(installed, "broker-plugin", "produce", "--bootstrap-servers",
                    kafka_bootstrap, "--from", str(curve_dir), "--format", fmt, "--topic",
                    topics["in"], *schema)
    assert produced.returncode == 0, produced.stdout + produced.stderr
    served = _run(installed, "broker-plugin", "run", "--bootstrap-servers", kafka_bootstrap,
                  "--input-topic", topics["in"], "--output-topic", topics["out"],
                  "--dlq-topic", topics["dlq"], "--group-id", topics["in"], "--survey", fmt,
                  "--max-messages", str(N_OBJECTS), "--no-metrics", *schema)
    assert served.returncode == 0, served.stdout + served.stderr
    messages = read_topic(kafka_bootstrap, topics["out"], N_OBJECTS)
    records = [fastavro.schemaless_reader(io.BytesIO(m.value()[5:]),
                                          schemas.load(schemas.CLASSIFICATION), None)
               for m in messages]
    # One record per object (LSST alerts carry numeric diaObjectIds derived from our ids).
    assert len({r["object_id"] for r in records}) == len(records) == N_OBJECTS
    assert all(m.value()[0] == 0 for m in messages)  # Confluent wire format


def test_wheel_run_creates_no_topic_and_speaks_elasticc(installed: dict[str, Path],
                                                        curve_dir: Path,
                                                        kafka_bootstrap: str) -> None:
    """From the wheel: `produce --create-topic` makes the input topic, `run` refuses LSST
    without a schema source in one line, and `--output-format elasticc` writes ELAsTiCC
    brokerClassification records (Confluent wire format) with our taxonomy ids."""
    from tests.lsst_packet import SCHEMA_ROOT

    topics = {k: unique_topic_name(f"wheel-elasticc-{k}") for k in ("in", "out", "dlq")}
    create_topics(kafka_bootstrap, [topics["out"], topics["dlq"]])
    produced = _run(installed, "broker-plugin", "produce", "--bootstrap-servers",
                    kafka_bootstrap, "--from", str(curve_dir), "--format", "lsst", "--topic",
                    topics["in"], "--create-topic", "--partitions", "2", "--schema-dir",
                    str(SCHEMA_ROOT))
    assert produced.returncode == 0, produced.stdout + produced.stderr
    common = ["--bootstrap-servers", kafka_bootstrap, "--input-topic", topics["in"],
              "--output-topic", topics["out"], "--dlq-topic", topics["dlq"], "--group-id",
              topics["in"], "--no-metrics"]
    refused = _run(installed, "broker-plugin", "run", *common)
    assert refused.returncode == 2 and "--schema-registry-url" in refused.stderr
    assert "Traceback" not in refused.stderr
    served = _run(installed, "broker-plugin", "run", *common, "--schema-dir", str(SCHEMA_ROOT),
                  "--output-format", "elasticc", "--max-messages", str(N_OBJECTS))
    assert served.returncode == 0, served.stdout + served.stderr
    messages = read_topic(kafka_bootstrap, topics["out"], N_OBJECTS)
    records = [fastavro.schemaless_reader(io.BytesIO(m.value()[5:]),
                                          schemas.load(schemas.ELASTICC), None)
               for m in messages]
    assert len(records) == N_OBJECTS
    for record in records:
        ids = {c["classId"] for c in record["classifications"]}
        assert {2322, 2323, 2324, 2325, 2326} <= ids
        assert abs(sum(c["probability"] for c in record["classifications"]) - 1) < 1e-5


def test_training_from_the_serving_install_names_the_extra(installed: dict[str, Path],
                                                          curve_dir: Path) -> None:
    """`training train` without the [train] extra: one line with the pip command, exit 2."""
    result = _run(installed, "training", "train", "--data", str(curve_dir), "--out", "run")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "pip install 'selfreg-varstars[train]'" in result.stderr
