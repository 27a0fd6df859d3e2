"""Our own Avro schemas (classification output and its ELAsTiCC form, compact and ZTF alerts).

The one lookup of our own schema files: serving's output, `produce`, the decoders and the
tests all come here.

The `.avsc` files live once, in the repository's top-level `schemas/`. `broker_plugin/_schemas`
is a symlink to it, shipped as package data, so the same lookup works in a source checkout,
an editable install and an installed wheel (where the files are copied into the package).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any, cast

from broker_plugin.avro.names import Schema, parse
from broker_plugin.errors import UserError

CLASSIFICATION = "classification"
COMPACT_ALERT = "compact_alert"
ZTF_ALERT = "ztf_alert"  # the subset of ZTF's packet our producer writes
ELASTICC = "elasticc_brokerClassification"  # ELAsTiCC's v0.9.1 output (--output-format elasticc)
NAMES = (CLASSIFICATION, COMPACT_ALERT, ZTF_ALERT, ELASTICC)


class SchemaFileMissingError(UserError, FileNotFoundError):
    """One of our own .avsc files is not where the package keeps them."""


def schema_dir() -> Path:
    """The folder holding our `.avsc` files."""
    packaged = Path(str(resources.files("broker_plugin") / "_schemas"))
    if (packaged / f"{CLASSIFICATION}.avsc").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"  # checkout without the symlink


def schema_path(name: str) -> Path:
    """Path of schema `name` (one of `NAMES`)."""
    if name not in NAMES:
        raise KeyError(f"unknown schema {name!r}; choose one of {', '.join(NAMES)}")
    return schema_dir() / f"{name}.avsc"


@functools.cache
def raw(name: str) -> dict[str, Any]:
    """Schema `name` as written in its file (JSON), e.g. to register it with a registry."""
    path = schema_path(name)
    try:
        return cast(dict[str, Any], json.loads(path.read_text()))
    except FileNotFoundError:
        raise SchemaFileMissingError(
            f"{path}: our {name} schema is missing from this installation; reinstall the "
            "package (the wheel ships broker_plugin/_schemas/*.avsc)"
        ) from None


@functools.cache
def load(name: str) -> Schema:
    """Schema `name`, parsed by fastavro (cached)."""
    return parse(raw(name))
