"""The one reader of settings files: `TrainingConfig` (`training train --config`, a run's
config.yaml) and `GeneratorConfig` (`fit-generator --config`) load YAML or JSON through it.

A settings file is a mapping of a settings dataclass's field names to values. `.json` files
are read as JSON, anything else as YAML (which also reads JSON). Every mistake is one line,
the settings class's own `UserError`, that names the file, the key where there is one, and
the fix:

    c.yaml: not valid YAML at line 3, column 8 (...); fix the syntax there
    c.yaml: unknown config key(s) ['epoch']; valid names are [...]
    c.yaml: epochs: 'ten' is not an integer; write e.g. epochs: 40
    c.yaml: config policy='best' is not one of ccr, ...   (the class's own check)

Values are checked against the field's type, so a wrong one fails here rather than deep in
training; a float written `1e-3` (text to YAML 1.1) is read as the number it means.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from broker_plugin.errors import UserError, reject_unknown_fields

T = TypeVar("T")


def read_settings_file(
    path: str | Path, settings_class: type, error: type[UserError], noun: str
) -> dict[str, Any]:
    """The file's settings, keys checked against `settings_class`'s fields and values against
    their types; `noun` names one key in messages ("config key", "generator setting")."""
    path = Path(path)
    data = _parse(path, error, noun)
    named = {str(key): value for key, value in data.items()}
    try:
        reject_unknown_fields(settings_class, named, error, f"{noun}(s)")
    except UserError as exc:
        raise error(f"{path}: {exc}") from exc
    hints = get_type_hints(settings_class)
    defaults = {f.name: f.default for f in dataclasses.fields(settings_class)}
    return {
        key: _checked(path, key, value, hints[key], defaults[key], error)
        for key, value in named.items()
    }


def settings_from_file(
    path: str | Path,
    settings_class: type,
    build: Callable[[dict[str, Any]], T],
    error: type[UserError],
    noun: str,
) -> T:
    """`build(settings)` from the file; the class's own errors (`error`) name the file too."""
    settings = read_settings_file(path, settings_class, error, noun)
    try:
        return build(settings)
    except error as exc:
        raise error(f"{path}: {exc}") from exc


def _parse(path: Path, error: type[UserError], noun: str) -> dict[Any, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(
            f"{path}: cannot read this settings file ({exc.strerror or exc}); check the path"
        ) from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
            "fix the syntax there"
        ) from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML{_where(exc)}; fix the syntax there") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(
            f"{path}: expected a mapping of {noun}s at the top level ({noun}: value), "
            f"got a {type(data).__name__}"
        )
    return data


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f" ({problem})"
    return f" at line {mark.line + 1}, column {mark.column + 1} ({problem})"


def _checked(
    path: Path, key: str, value: Any, kind: Any, default: Any, error: type[UserError]
) -> Any:
    """`value` if it fits the field's type (a float given as text becomes a float)."""
    if get_origin(kind) in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        if value is None and len(options) < len(get_args(kind)):
            return value
        kind = options[0] if len(options) == 1 else Any
    if kind is bool:
        ok, expected = isinstance(value, bool), "true or false"
    elif kind is int:
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif kind is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        ok, expected = (isinstance(value, int | float) and not isinstance(value, bool),
                        "a number")
    elif kind is str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise error(f'{path}: {key}: {value!r} is a number, not text; quote it: '
                        f'{key}: "{value}"')
        ok, expected = isinstance(value, str), "text"
    elif get_origin(kind) is list:
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(item, str) for item in value))
        expected = "a list of text"
    else:
        return value
    if not ok:
        example = json.dumps(default) if default is not dataclasses.MISSING else "..."
        if expected == "a list of text":
            example = "[first, second]"
        raise error(f"{path}: {key}: {value!r} is not {expected}; write e.g. {key}: {example}")
    return value
