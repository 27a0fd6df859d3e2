"""Real LSSTCam alerts of ../shared/data/lsst_alerts_real, and their re-encoding in 11.x.

The wire files are schema 10.0 (id 1000). Rubin's production stream has used 11.x since
May 2026, so tests also carry the same records over to 11.0 and 11.1 with
`broker_plugin.alerts.convert.RecordConverter`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro

from broker_plugin.alerts import load_lsst_schema, serialise
from broker_plugin.alerts.convert import RecordConverter

WIRE_FOLDERS = ("lsst_alerts_real/wire_v10_0_fink_client",
                "lsst_alerts_real/wire_v10_0_fink_filters")
SOURCE_VERSION = "10.0"


def real_payloads(shared_data: Path) -> list[bytes]:
    """Every real wire-format alert (34: 7 with long histories' folder first)."""
    return [p.read_bytes() for folder in WIRE_FOLDERS
            for p in sorted((shared_data / folder).glob("*.avro"))]


def records(payloads: list[bytes], schema_root: Path) -> list[dict[str, Any]]:
    """The payloads decoded by fastavro with the 10.0 schema (the reference decode)."""
    schema = load_lsst_schema(SOURCE_VERSION, schema_root)
    return [fastavro.schemaless_reader(io.BytesIO(p[5:]), schema, None) for p in payloads]


def reencoded(payloads: list[bytes], version: str, schema_root: Path, schema_id: int
              ) -> list[bytes]:
    """The same alerts as wire-format messages of LSST schema `version`."""
    target = load_lsst_schema(version, schema_root)
    convert = RecordConverter(target)
    return [serialise(target, convert(record), schema_id)
            for record in records(payloads, schema_root)]
