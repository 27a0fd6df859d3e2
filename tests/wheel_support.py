"""The package as a user installs it: a built wheel in a venv without the [train] extra.

The venv's dependencies are installed once per dependency spec (cached beside the dev venv,
under SELFREG_CACHE, one builder at a time); each test session then builds the wheel of
this checkout and reinstalls only it (seconds). Commands run from a folder outside the
checkout, so nothing is imported from the source tree by accident.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from devtools.build_once import build_once, cache_root

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def serving_venv() -> Path:
    """A venv with the serving dependencies only (no torch), built once per spec."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    deps = sorted(project["dependencies"])
    key = hashlib.sha256(json.dumps(deps).encode()).hexdigest()[:16]

    def build(venv: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
               "--progress-bar", "off"]
        subprocess.run([*pip, *deps], check=True)

    return build_once(cache_root() / f"venv-serving-{key}", build)


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
