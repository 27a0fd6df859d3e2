"""A short fuzzing run of every target (bench/fuzz.py), so scripts/test exercises the harness.

A few thousand inputs per target at most, five seconds each (the LSST target, ~50 inputs/s
instrumented on a busy machine, gets a few hundred): atheris processes seeded from the real
files in ../shared/data, judged as the campaign is (only project errors, decoders raise
nothing and reject nothing as internal_error, no input over 100 CPU ms). The campaign of
over a million inputs is `python bench/fuzz.py --json ...` (README, "Fuzzing").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="needs atheris (test extra, Linux wheels)")
pytest.importorskip("lsst.alert.packet", reason="needs lsst-alert-packet (test extra)")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import fuzz

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


@pytest.mark.parametrize("name", list(fuzz.TARGETS))
def test_short_fuzz_run_finds_nothing(name: str, shared_data: Path, tmp_path: Path) -> None:
    result = fuzz.fuzz_target(name, runs=3000, max_time=5.0, workdir=tmp_path / "work",
                              artifacts=tmp_path / "found", shared=shared_data,
                              say=lambda message: None)
    summary = json.dumps(result, indent=1)[:4000]
    assert result["exit_code"] == 0, summary
    assert result["inputs"] >= 100, summary
    assert result["exceptions"] == 0 and result["slow_inputs"] == 0, summary
    assert not result["findings"], summary
