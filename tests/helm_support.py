"""Helpers for tests that need the real helm and promql-check binaries (built once, cached)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHART = PROJECT_ROOT / "helm" / "broker-plugin"
GET_GO_TOOL = PROJECT_ROOT / "scripts" / "get-go-tool"


def go_tool(name: str) -> Path:
    """Path of the cached tool, building it from the Go module proxy on first use."""
    if shutil.which("go") is None:
        pytest.skip(f"needs Go to build {name} from the module proxy (go not on PATH)")
    result = subprocess.run(
        [str(GET_GO_TOOL), name], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/get-go-tool {name} failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def helm_template(
    helm: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "template", "rel", str(CHART), "--namespace", "astro", *args],
        capture_output=True, text=True, timeout=120, check=check,
    )


def render(helm: Path, *args: str) -> list[dict]:
    """Rendered manifests as dicts (empty documents dropped)."""
    out = helm_template(helm, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[dict], kind: str) -> dict:
    found = by_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]
