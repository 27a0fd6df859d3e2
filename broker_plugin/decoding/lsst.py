"""LSST alerts (lsst-alert-packet schemas): which versions we read, and photometry from dicts.

Points: `diaSource` + `prvDiaSources` (detections, total flux `scienceFlux` in nJy) and
`prvDiaForcedSources` (forced photometry at the object's position on every visit, which
samples the star where it did not trigger a detection); a forced row at an epoch
(`midpointMjdTai`) that already has a diaSource is dropped as a duplicate. Rows with
`timeWithdrawnMjdTai` set, or a null / non-positive flux, or a null error are dropped.
Schemas without `scienceFlux` (7.x and older, difference flux `psfFlux` only) are rejected:
a difference flux is not the star's brightness and the template flux is not in the packet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from broker_plugin.avro import fields
from broker_plugin.avro.names import named_types, schema_namespace
from broker_plugin.decoding.photometry import njy_to_mag, usable_flux

#: The diaSource fields the light curve needs (all must exist in the schema).
REQUIRED_SOURCE_FIELDS = ("diaSourceId", "midpointMjdTai", "band", "scienceFlux", "scienceFluxErr")
_NAMESPACE = re.compile(r"^lsst\.v(\d+)_(\d+)$")


class UnsupportedSchemaError(ValueError):
    """A schema this decoder cannot read light curves from (reason `unsupported_schema`)."""


def lsst_version(schema: Mapping[str, Any]) -> tuple[int, int] | None:
    """(major, minor) from the alert schema's namespace (``lsst.v11_1``), None if not LSST."""
    match = _NAMESPACE.match(schema_namespace(schema))
    return (int(match.group(1)), int(match.group(2))) if match else None


def record_fields(schema: Mapping[str, Any], field_name: str) -> list[str]:
    """Field names of the record type of `field_name` (unions and arrays unwrapped)."""
    try:
        return fields.record_fields(schema, field_name, named_types(schema))
    except fields.SchemaShapeError as exc:
        raise UnsupportedSchemaError(str(exc)) from None


@dataclass(frozen=True)
class LsstLayout:
    """What one LSST alert schema offers (checked once per schema)."""

    version: tuple[int, int] | None
    has_withdrawn: bool
    has_forced_science_flux: bool

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> LsstLayout:
        """Inspect `schema`; `UnsupportedSchemaError` (with why) if it has no total flux."""
        version = lsst_version(schema)
        label = f"LSST schema {version[0]}.{version[1]}" if version else "this LSST schema"
        source = record_fields(schema, "diaSource")
        missing = [f for f in REQUIRED_SOURCE_FIELDS if f not in source]
        if missing:
            raise UnsupportedSchemaError(
                f"{label} has no diaSource field(s) {missing}: alerts before 8.0 carry only "
                "difference fluxes (psfFlux), not the total flux scienceFlux a light curve needs"
            )
        forced = record_fields(schema, "prvDiaForcedSources")
        return cls(
            version=version,
            has_withdrawn="timeWithdrawnMjdTai" in source,
            has_forced_science_flux="scienceFlux" in forced and "scienceFluxErr" in forced,
        )


def _col(rows: list[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([np.nan if r.get(name) is None else r[name] for r in rows], dtype=np.float64)


def clean_points(
    band: np.ndarray,
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    withdrawn: np.ndarray,
    forced: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(band, time, mag, err) of the usable rows: the one cleaning rule for every decoder.

    `withdrawn` holds timeWithdrawnMjdTai (NaN = not withdrawn); `forced` marks forced rows,
    dropped where a detection shares their epoch. Rows without a band are dropped.
    """
    keep = usable_flux(flux, flux_err) & np.isnan(withdrawn) & (band != "")
    if forced.any():
        keep &= ~(forced & np.isin(time, time[~forced]))
    mag, err = njy_to_mag(flux[keep], flux_err[keep])
    return band[keep], time[keep], mag, err


def clean_points_batch(
    owner: np.ndarray,
    band: np.ndarray,
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    withdrawn: np.ndarray,
    forced: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """`clean_points` for the rows of many alerts at once (`owner`: alert of each row).

    Returns (kept-row mask, (band, time, mag, err) of the kept rows, in input order): per
    alert exactly what `clean_points` keeps, without a Python call per alert.
    """
    keep = usable_flux(flux, flux_err) & np.isnan(withdrawn) & (band != "")
    if forced.any():
        keep &= ~_forced_duplicates(owner, time, forced)
    mag, err = njy_to_mag(flux[keep], flux_err[keep])
    return keep, (band[keep], time[keep], mag, err)


def _forced_duplicates(owner: np.ndarray, time: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """Forced rows whose alert has a detection at an equal time (as `np.isin` compares)."""
    order = np.lexsort((forced, time, owner))  # by alert, then time, detections first
    o, t, f = owner[order], time[order], forced[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (o[1:] != o[:-1]) | (t[1:] != t[:-1])  # NaN != NaN: NaN never matches
    group_has_detection = ~f[new]
    duplicate = np.empty(order.size, dtype=bool)
    duplicate[order] = f & group_has_detection[np.cumsum(new) - 1]
    return duplicate


def points_from_dict(
    alert: Mapping[str, Any], layout: LsstLayout, include_forced: bool = True
) -> tuple[str, str | None, float, tuple[np.ndarray, ...]]:
    """(alert id, object id, alert MJD, (band, time, mag, err)) of a fastavro-decoded alert."""
    source = alert["diaSource"]
    rows = [source, *(alert.get("prvDiaSources") or [])]
    n_det = len(rows)
    if include_forced and layout.has_forced_science_flux:
        rows += alert.get("prvDiaForcedSources") or []
    band = np.array([r.get("band") or "" for r in rows], dtype=str)
    withdrawn = _col(rows, "timeWithdrawnMjdTai")
    forced = np.arange(len(rows)) >= n_det
    points = clean_points(
        band, _col(rows, "midpointMjdTai"), _col(rows, "scienceFlux"),
        _col(rows, "scienceFluxErr"), withdrawn, forced,
    )
    object_id = source.get("diaObjectId")
    if object_id is None and alert.get("diaObject"):
        object_id = alert["diaObject"].get("diaObjectId")
    return (
        str(source["diaSourceId"]),
        None if object_id is None else str(object_id),
        float(source["midpointMjdTai"]),
        points,
    )
