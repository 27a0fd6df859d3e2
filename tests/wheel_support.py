"""The package as a user installs it: a built wheel in a venv without the [train] extra.

The venv's dependencies are installed once per dependency spec (cached beside the dev venv,
under SELFREG_CACHE, one builder at a time); each test session then builds the wheel of
this checkout and reinstalls only it (seconds). Commands run from a folder outside the
checkout, so nothing is imported from the source tree by accident.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _cache() -> Path:
    return Path(os.environ.get("SELFREG_CACHE", Path.home() / ".cache" / "selfreg-varstars"))


def serving_venv() -> Path:
    """A venv with the serving dependencies only (no torch), built once per spec."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    deps = sorted(project["dependencies"])
    key = hashlib.sha256(json.dumps(deps).encode()).hexdigest()[:16]
    venv = _cache() / f"venv-serving-{key}"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").is_file():
            subprocess.run(["rm", "-rf", str(venv)], check=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                   "--progress-bar", "off"]
            subprocess.run([*pip, *deps], check=True)
            (venv / ".complete").touch()
    return venv


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout (no build isolation: setuptools is in the dev venv)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(out), str(PROJECT_ROOT)],
                   check=True, capture_output=True)
    wheels = sorted(out.glob("selfreg_varstars-*.whl"))
    assert wheels, f"no wheel built in {out}"
    return wheels[-1]


def install(venv: Path, wheel: Path) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--no-deps", "--force-reinstall", str(wheel)], check=True)
