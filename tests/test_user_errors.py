"""One line, not a traceback, for what users get wrong (issue: ready for a real stream)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from broker_plugin.model_card import CARD_FILE, MODEL_FILE, sha256_of
from devtools.model_fixture import write_fixture_model

REAL_WIRE = "lsst_alerts_real/wire_v10_0_fink_client"


def _cli(*args: str, module: str = "broker_plugin") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, timeout=120)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def test_corrupt_onnx_whose_sha_matches_its_card(tmp_path: Path) -> None:
    """A damaged model.onnx with a card re-hashed to match: one line naming file and fix."""
    model = write_fixture_model(tmp_path / "model")
    (model / MODEL_FILE).write_bytes(b"\x08\x07this is not a protobuf graph")
    card = json.loads((model / CARD_FILE).read_text())
    card["onnx_sha256"] = sha256_of(model / MODEL_FILE)
    (model / CARD_FILE).write_text(json.dumps(card))
    result = _cli("classify", "--model", str(model), "--out", str(tmp_path / "o.jsonl"),
                  str(tmp_path))
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert str(model / MODEL_FILE) in line and "re-export" in line


@pytest.mark.shared_data
def test_classify_exits_3_when_nothing_is_classified(shared_data: Path, tmp_path: Path) -> None:
    """Real LSST wire alerts without a schema source: every one rejected, counts per reason,
    exit 3 (not 0 with an empty file)."""
    wire = shared_data / REAL_WIRE
    if not wire.is_dir():
        pytest.skip(f"needs {wire}")
    result = _cli("classify", "--out", str(tmp_path / "o.jsonl"), str(wire))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "0 classified" in result.stdout and "unknown_schema" in result.stdout


def test_training_without_the_train_extra_says_what_to_install(tmp_path: Path) -> None:
    """`training train` where torch is missing: one line with the pip command."""
    code = ("import sys; sys.modules['torch'] = None; "
            "sys.argv = ['training', 'train', '--data', sys.argv[1], '--out', sys.argv[2]]; "
            "from training.cli import main; main()")
    from broker_plugin.lightcurve_dir import write_lightcurve_dir
    from tests.test_training_loop import fake_curves

    write_lightcurve_dir(tmp_path / "d", fake_curves(4))
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d"),
                             str(tmp_path / "run")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert "[train] extra" in line and "pip install" in line and "torch" in line
