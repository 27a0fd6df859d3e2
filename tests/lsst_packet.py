"""lsst-alert-packet's schemas for the decoding tests (test-only GPLv3 dependency, never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_plugin.alerts.lsst_encoder import parse_version
from broker_plugin.decoding.schema_sources import lsst_schema_id

packet = pytest.importorskip("lsst.alert.packet")
SCHEMA_ROOT = Path(packet.__file__).parent / "schema"
#: Every shipped schema version that carries total fluxes (8.0 and later).
VERSIONS = ["8.0", "9.0", "10.0", "11.0", "11.1"]


def schema_id(version: str) -> int:
    """The wire-format id of an LSST schema version (11.1 → 1101)."""
    return lsst_schema_id(*parse_version(version))
