"""Alert encoders (for `broker-plugin produce`, tests and benchmarks): LightCurves → packets.

    from broker_plugin.alerts import LsstAlertEncoder, load_lsst_schema, serialise
    schema = load_lsst_schema("11.1")                 # lsst-alert-packet or --schema-dir
    alert = LsstAlertEncoder(schema).encode(curves, upto=k)   # dict valid for the schema
    payload = serialise(schema, alert, schema_id=1101)        # Confluent wire format

`ZtfAlertEncoder(schema)` (ZTF candidate + prv_candidates, reference-corrected magnitudes
recoverable) and `encode_compact(curves)` (our compact alert) work the same way.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, cast

import fastavro

from broker_plugin.alerts.compact_encoder import encode_compact
from broker_plugin.alerts.lsst_encoder import LsstAlertEncoder, load_lsst_schema, lsst_object_id
from broker_plugin.alerts.ztf_encoder import ZtfAlertEncoder
from broker_plugin.avro.framing import frame_confluent


def serialise(
    schema: Mapping[str, Any], record: Mapping[str, Any], schema_id: int | None = None
) -> bytes:
    """Schemaless Avro body of `record`, framed in the Confluent wire format if `schema_id`."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, cast(dict[str, Any], schema), record)
    body = buf.getvalue()
    return body if schema_id is None else frame_confluent(schema_id, body)


def container(schema: Mapping[str, Any], records: list[Mapping[str, Any]]) -> bytes:
    """An Avro object container file holding `records` (ZTF's framing)."""
    buf = io.BytesIO()
    fastavro.writer(buf, cast(dict[str, Any], schema), records)
    return buf.getvalue()


__all__ = [
    "LsstAlertEncoder",
    "ZtfAlertEncoder",
    "container",
    "encode_compact",
    "load_lsst_schema",
    "lsst_object_id",
    "serialise",
]
