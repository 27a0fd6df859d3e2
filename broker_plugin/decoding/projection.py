"""Placeholder projection decoder: plain fastavro (replaced by the binary walker)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import fastavro

from broker_plugin.decoding import lsst


class LsstProjection:
    """Decode LSST alert bodies of one schema into (alert id, object id, mjd, points)."""

    def __init__(self, schema: Mapping[str, Any], include_forced: bool = True) -> None:
        self.schema = schema
        self.layout = lsst.LsstLayout.of(schema)
        self.include_forced = include_forced

    def decode(self, body: memoryview) -> tuple:
        """Photometry of one alert body."""
        record = fastavro.schemaless_reader(io.BytesIO(body), self.schema, None)
        return lsst.points_from_dict(record, self.layout, self.include_forced)
