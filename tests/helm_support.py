"""Helpers for tests that need the real helm and promql-check binaries (built once, cached)."""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
from dataclasses import dataclass, field
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


#: A schema source every test render starts from: the chart refuses LSST input without one
#: (a test that wants that failure passes `--set kafka.schemaRegistryUrl=` after it).
BASELINE = ("--set", "kafka.schemaRegistryUrl=http://schema-registry:8081")


def helm_template(
    helm: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "template", "rel", str(CHART), "--namespace", "astro", *BASELINE, *args],
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


# The image: what `docker build .` sees, read without docker.

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
_ARG_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Instruction:
    stage: int  # -1 for the global ARGs before the first FROM
    keyword: str
    args: str
    scope: dict[str, str | None] = field(default_factory=dict)  # ARGs visible here


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Instructions (continuation lines joined, comments dropped) with the ARGs in scope.

    Docker's scoping: ARGs before the first FROM are visible to FROM lines only; inside a stage
    an ARG is visible after its declaration (a bare `ARG NAME` re-imports a global default).
    """
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        if raw.lstrip().startswith("#"):  # comments, also inside continuations
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    global_args: dict[str, str | None] = {}
    stage_args: dict[str, str | None] = {}
    stage = -1
    out: list[Instruction] = []
    for line in filter(str.strip, lines):
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
            stage_args = {}
            out.append(Instruction(stage, keyword, args.strip(), dict(global_args)))
            continue
        if keyword == "ARG":
            name, eq, default = args.strip().partition("=")
            value = default.strip().strip("\"'") if eq else None
            if stage < 0:
                global_args[name] = value
            else:
                stage_args[name] = value if eq else global_args.get(name)
        out.append(Instruction(stage, keyword, args.strip(), dict(stage_args)))
    return out


def arg_refs(text: str) -> list[str]:
    return [a or b for a, b in _ARG_REF.findall(text)]


def expand_args(text: str, scope: dict[str, str | None]) -> str:
    """Substitute ARG defaults (what a build with no --build-arg uses)."""
    return _ARG_REF.sub(lambda m: scope[m.group(1) or m.group(2)] or "", text)


def copy_sources(instruction: Instruction) -> list[str] | None:
    """Sources of a COPY from the build context (None for COPY --from=stage)."""
    words = instruction.args.split()
    if any(w.startswith("--from") for w in words):
        return None
    return [w for w in words if not w.startswith("--")][:-1]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker's matcher reads it (Go filepath.Match plus `**`)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            else:
                out, i = out + ".*", i + 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif c == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1:end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def dockerignored(rel_path: str, dockerignore: Path = PROJECT_ROOT / ".dockerignore") -> bool:
    """Whether Docker leaves rel_path out of the build context: the last pattern matching the
    path or one of its parent directories wins, `!` patterns put paths back."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in dockerignore.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((keep, _pattern_regex(pattern)))
    parts = posixpath.normpath(rel_path).split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for keep, regex in rules:
        if any(regex.match(c) for c in candidates):
            ignored = not keep
    return ignored
