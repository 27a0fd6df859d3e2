"""The import rules between the repository's packages (docs/architecture.md), enforced.

- `broker_plugin` never imports torch or any other `[train]` module, `training`, `devtools`,
  `tests` or `bench`: the serving wheel and the Docker image hold none of them.
- `training` may import `broker_plugin`, never `devtools`, `tests` or `bench`.
- `devtools` may import both, never `tests` or `bench`; nothing shipped imports it.
- Nothing imports `bench`; `bench` never imports `tests` (shared helpers live in devtools).
- `scripts/kafka` is standard library only: it runs before the virtual environment exists.

Statically: every `.py` file is parsed with `ast` and every module it imports is collected,
`from x import y` and relative imports resolved, imports inside functions and
`importlib.import_module("...")` calls with a literal name included. Dynamically: importing
the serving entry points in a fresh interpreter leaves the `[train]` stack out of
`sys.modules`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Import names of the `[train]` extra's distributions (pyproject.toml).
TRAIN_MODULES = {
    "torch": "torch",
    "onnx": "onnx",
    "scikit-learn": "sklearn",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "optuna": "optuna",
}
OURS_NOT_SHIPPED = ("devtools", "tests", "bench")

#: Folder (relative to the repository root) → module prefixes its code must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "broker_plugin": (*TRAIN_MODULES.values(), "training", *OURS_NOT_SHIPPED),
    "training": OURS_NOT_SHIPPED,
    "devtools": ("tests", "bench"),
    "tests": ("bench",),
    "bench": ("tests", "bench"),
    "scripts": ("tests", "bench"),
}

#: Modules of the serving entry points that the dynamic check imports.
SERVING_ENTRY_POINTS = (
    "broker_plugin.cli",
    "broker_plugin.serving.service",
    "broker_plugin.serving.consumer",
)


# --------------------------------------------------------------------------- the scanner


def module_name(path: Path, root: Path = ROOT) -> tuple[str, bool]:
    """Dotted module name of a file below `root`, and whether it is a package's __init__."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def imported_modules(source: str, module: str = "", is_package: bool = False) -> set[str]:
    """Every module `source` imports, anywhere in it (functions, conditionals included).

    `from x import y` yields both `x` and `x.y` (y may be a submodule); relative imports
    are resolved against `module`; `importlib.import_module("x")` and `__import__("x")`
    with a literal name count as imports of `x`.
    """
    found: set[str] = set()
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base:
                found.add(base)
            found.update(f"{base}.{a.name}" if base else a.name for a in node.names)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            name = _literal_first_argument(node)
            if name:
                found.add(name)
    return found


def _literal_first_argument(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def matches(name: str, prefix: str) -> bool:
    """`name` is the module `prefix` or inside it (`onnx` does not match `onnxruntime`)."""
    return name == prefix or name.startswith(prefix + ".")


def violations(
    source: str, forbidden: tuple[str, ...], module: str = "", is_package: bool = False
) -> list[str]:
    """The forbidden modules `source` imports, sorted."""
    names = imported_modules(source, module, is_package)
    return sorted(n for n in names if any(matches(n, p) for p in forbidden))


def python_files(folder: str) -> list[Path]:
    skip = {"__pycache__", ".venv", "build", "node_modules"}
    return sorted(
        p for p in (ROOT / folder).rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)
    )


# --------------------------------------------------------------------------- the scanner itself


def test_scanner_flags_a_plain_forbidden_import() -> None:
    assert violations("import torch\n", ("torch",)) == ["torch"]
    assert violations("import torch.nn as nn\n", ("torch",)) == ["torch.nn"]
    assert violations("import numpy\n", ("torch",)) == []


def test_scanner_sees_imports_inside_functions_and_branches() -> None:
    source = (
        "def fit():\n"
        "    if True:\n"
        "        from training.classifier import model\n"
        "    try:\n"
        "        import sklearn.metrics\n"
        "    except ImportError:\n"
        "        pass\n"
    )
    assert violations(source, ("training", "sklearn")) == [
        "sklearn.metrics",
        "training.classifier",
        "training.classifier.model",
    ]


def test_scanner_sees_type_checking_and_dynamic_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n"
        "    from devtools.model_fixture import write_fixture_model\n"
        "mod = importlib.import_module('torch')\n"
        "other = __import__('tests.kafka_support')\n"
    )
    assert violations(source, ("torch", "devtools", "tests")) == [
        "devtools.model_fixture",
        "devtools.model_fixture.write_fixture_model",
        "tests.kafka_support",
        "torch",
    ]


def test_scanner_resolves_relative_imports() -> None:
    source = "from .. import features\nfrom . import pipeline\nfrom ..decoding import lsst\n"
    names = imported_modules(source, "broker_plugin.serving.consumer")
    assert {"broker_plugin.features", "broker_plugin.serving.pipeline"} <= names
    assert "broker_plugin.decoding.lsst" in names
    in_init = imported_modules("from . import consumer\n", "broker_plugin.serving", True)
    assert "broker_plugin.serving.consumer" in in_init


def test_scanner_matches_whole_module_names_only() -> None:
    source = "import onnxruntime\nimport torchmetrics_like\nimport testsuite\nimport benchmark\n"
    assert violations(source, ("onnx", "torch", "tests", "bench")) == []
    assert violations("import onnx\n", ("onnx",)) == ["onnx"]


def test_module_names_of_files() -> None:
    assert module_name(ROOT / "broker_plugin" / "serving" / "consumer.py") == (
        "broker_plugin.serving.consumer",
        False,
    )
    assert module_name(ROOT / "broker_plugin" / "serving" / "__init__.py") == (
        "broker_plugin.serving",
        True,
    )


# --------------------------------------------------------------------------- the repository


def test_train_modules_cover_the_train_extra() -> None:
    """A new `[train]` dependency must be added to TRAIN_MODULES (and so kept out of serving)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {
        req.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for req in project["optional-dependencies"]["train"]
    }
    assert names <= set(TRAIN_MODULES), f"add {sorted(names - set(TRAIN_MODULES))}"


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_package_never_imports_what_it_must_not(folder: str) -> None:
    files = python_files(folder)
    assert files, f"no .py files under {folder}/: the scan would pass vacuously"
    found: list[str] = []
    for path in files:
        module, is_package = module_name(path)
        for name in violations(path.read_text(), FORBIDDEN[folder], module, is_package):
            found.append(f"{path.relative_to(ROOT)}: imports {name}")
    assert not found, "import rule broken (docs/architecture.md):\n" + "\n".join(found)


def test_local_kafka_uses_the_standard_library_only() -> None:
    """scripts/kafka runs before (and without) the project's virtual environment."""
    files = python_files("scripts/kafka")
    assert files
    siblings = {p.stem for p in files}
    found = []
    for path in files:
        for name in imported_modules(path.read_text(), path.stem):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in siblings:
                found.append(f"{path.relative_to(ROOT)}: imports {name}")
    assert not found, "\n".join(found)


def test_serving_entry_points_load_without_the_train_stack() -> None:
    """A fresh interpreter importing `run`'s modules never loads torch or training."""
    watched = sorted({*TRAIN_MODULES.values(), "training", *OURS_NOT_SHIPPED})
    code = (
        "import json, sys\n"
        f"import {', '.join(SERVING_ENTRY_POINTS)}\n"
        f"watched = {watched!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if any(m == w or m.startswith(w + '.') for w in watched))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"serving imported {loaded}"


def test_architecture_doc_names_every_package() -> None:
    """docs/architecture.md names every package and sub-package of the repository."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    packages = [
        p.parent.relative_to(ROOT).as_posix()
        for top in ("broker_plugin", "training", "devtools")
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    ]
    folders = ["bench", "scripts", "helm", "schemas", "tests"]
    missing = [name for name in [*packages, *folders] if f"`{name}/`" not in text]
    assert not missing, f"docs/architecture.md does not name {missing}"
