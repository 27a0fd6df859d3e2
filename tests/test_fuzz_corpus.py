"""Every case the fuzzer found (tests/fuzz_corpus/<target>/) replayed through its target.

Each file once crashed a decoder or reader (an exception that is not one of the project's
errors, an `internal_error` rejection, a 4 GB allocation) or took over 100 ms. Replayed by
`bench/fuzz.py --replay` in a child process with its address space capped, so that a
regression of the memory bomb fails this test instead of taking the machine's memory.
The harness's own judgement (what counts as a finding, a slow input) is tested here too.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fuzz_corpus"
sys.path.insert(0, str(ROOT / "bench"))

import fuzz  # noqa: E402

FILES = [f"{name}/{path.name}" for name, path in fuzz.corpus_files(CORPUS)]
MEMORY_CAP = 3 * 2**30


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("replay") / "replay.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz.py"), "--replay", str(CORPUS), "--json",
         str(out)], capture_output=True, text=True, timeout=300, preexec_fn=_cap_memory,
        check=False)
    assert out.exists(), f"replay died (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return {f"{r['target']}/{r['file']}": r for r in json.loads(out.read_text())}


def test_corpus_is_there_and_named_by_target() -> None:
    assert len(FILES) >= 5
    assert {f.split("/")[0] for f in FILES} <= set(fuzz.TARGETS)


@pytest.mark.parametrize("case", FILES)
def test_found_case_raises_only_project_errors_quickly(
        case: str, replayed: dict[str, dict[str, object]]) -> None:
    record = replayed[case]
    if record["ok"] is None:
        pytest.skip(str(record["outcome"]))
    assert record["finding"] is None, record["message"]
    assert float(record["ms"]) <= fuzz.SLOW_MS, record  # type: ignore[arg-type]


def test_harness_tells_project_errors_from_findings_and_slow_inputs() -> None:
    from broker_plugin.lightcurve_dir import LightCurveDirError

    target = fuzz.TARGETS["lightcurve_dir"]

    def project_error(data: bytes) -> None:
        raise LightCurveDirError("bad file")

    def foreign(data: bytes) -> None:
        return {}["missing"]  # type: ignore[no-any-return]

    def slow(data: bytes) -> None:
        end = time.process_time() + 0.12
        while time.process_time() < end:
            pass

    assert fuzz.run_one(target, project_error, b"").error == "LightCurveDirError"
    found = fuzz.run_one(target, foreign, b"")
    assert found.finding is not None and found.finding.startswith("KeyError at")
    assert fuzz.run_one(target, slow, b"").ms > fuzz.SLOW_MS
    # decoders may raise nothing at all, not even a project error
    assert fuzz.run_one(fuzz.TARGETS["ztf"], project_error, b"").finding is not None
    # internal control flow of the fast decoder must never escape either
    from broker_plugin.decoding.projection import Fallback

    def escaped(data: bytes) -> None:
        raise Fallback("x")

    assert fuzz.run_one(target, escaped, b"").finding is not None
