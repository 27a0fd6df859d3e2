"""LightCurves of one object → an LSST alert dict valid for an lsst-alert-packet schema (8.0+).

All points of all bands are merged in time order; the last one is the triggering `diaSource`,
the earlier ones `prvDiaSources`. Magnitudes become total flux `scienceFlux` in nJy (AB), and
`psfFlux` (difference flux) is `scienceFlux` minus the object's median flux, so both are
plausible. Every other required field gets a valid placeholder (`fill.Filler`).

Two modes. Friendly (default): every diaSource has the same binary layout (ids in
[2**57, 2**58), one detector below 64 per object, nullable scalars filled). Realistic
(``realistic=True``): the layout changes record to record as in Rubin's stream (63-bit ids,
detector 0–188 per visit, varying counts, per-record null patterns, rare null fluxes and
withdrawn rows); see `variability.py`. Benchmarks and tests of decoders use both.

LSST schemas are lsst-alert-packet's (GPLv3, not shipped): `load_lsst_schema(version,
schema_dir)` reads them from a directory in lsst-alert-packet's layout, or from the installed
package when no directory is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.alerts.fill import Filler
from broker_plugin.alerts.variability import (
    N_DETECTORS,
    P_NULL_FLUX,
    P_WITHDRAWN,
    RecordVariety,
    full_range_id,
    rng_for,
    visit_id,
)
from broker_plugin.avro.fields import record_name
from broker_plugin.decoding.photometry import mag_to_njy
from broker_plugin.decoding.schema_sources import (
    DirectorySchemaSource,
    SchemaSourceError,
    UnknownSchemaError,
    lsst_schema_id,
)
from broker_plugin.lightcurve import LightCurve


def stable_id(*parts: object) -> int:
    """A positive id in [2**57, 2**58) derived from `parts`.

    LSST ids are longs of similar magnitude (packed visit/detector/counter, ~2.8e17), so
    their Avro varints have one length; random 63-bit ids would not be realistic.
    """
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return (1 << 57) | (int.from_bytes(digest, "big") >> 7)


def lsst_object_id(object_id: str, realistic: bool = False) -> int:
    """The diaObjectId our encoder gives a light curve's `object_id` (in the given mode)."""
    if realistic:
        return full_range_id("diaObject", object_id)
    return stable_id("diaObject", object_id)


def parse_version(version: str) -> tuple[int, int]:
    """'11.1' → (11, 1)."""
    try:
        major, minor = (int(x) for x in str(version).split("."))
    except ValueError as exc:
        raise SchemaSourceError(
            f"schema version {version!r} is not MAJOR.MINOR (e.g. 11.1)"
        ) from exc
    return major, minor


def load_lsst_schema(version: str = "11.1", schema_dir: str | Path | None = None
                     ) -> dict[str, Any]:
    """Parsed LSST alert schema `version` from `schema_dir` or the installed lsst-alert-packet."""
    major, minor = parse_version(version)
    if schema_dir is None:
        try:
            import lsst.alert.packet as packet
        except ImportError as exc:
            raise SchemaSourceError(
                "LSST alert schemas are not bundled (lsst-alert-packet is GPLv3): install "
                "lsst-alert-packet or pass --schema-dir with its schema/ folder"
            ) from exc
        schema_dir = Path(packet.__file__).parent / "schema"
    try:
        return DirectorySchemaSource(schema_dir).get(lsst_schema_id(major, minor))
    except UnknownSchemaError as exc:
        raise SchemaSourceError(
            f"no LSST alert schema {major}.{minor} in {schema_dir} "
            f"(expected {major}/{minor}/lsst.v{major}_{minor}.alert.avsc)"
        ) from exc


class LsstAlertEncoder:
    """Builds alert dicts for one parsed LSST schema (8.0 or later)."""

    def __init__(
        self, schema: Mapping[str, Any], *, fill_optional: bool = True, realistic: bool = False
    ) -> None:
        self.schema = schema
        self.realistic = realistic
        names = {f["name"] for f in schema["fields"]}
        self.filler = Filler(schema, optional=fill_optional)
        source_type = record_name(schema, "diaSource")
        if source_type is None:
            raise SchemaSourceError("this schema has no diaSource record: not an LSST alert")
        self.source_type: str = source_type
        self.object_type = record_name(schema, "diaObject")
        source_fields = {f["name"] for f in self.filler.named[self.source_type]["fields"]}
        if "scienceFlux" not in source_fields:
            raise SchemaSourceError(
                "this LSST schema has no scienceFlux (before 8.0); encode with 8.0 or later"
            )
        self.has_top_id = "diaSourceId" in names
        self.has_alert_id = "alertId" in names
        self._source_template = self.filler.record(self.source_type)
        self.forced_type = record_name(schema, "prvDiaForcedSources")
        self._variety = {
            name: RecordVariety(self.filler.named[name], _SET_BY_ENCODER)
            for name in (self.source_type, self.forced_type, self.object_type)
            if name is not None
        }

    def encode(
        self,
        curves: Sequence[LightCurve],
        *,
        upto: int | None = None,
        forced: bool = False,
    ) -> dict[str, Any]:
        """The alert for the first `upto` points (time order, all bands) of one object.

        `forced=True` also fills `prvDiaForcedSources` with the same epochs as the previous
        detections (the decoder then drops them as duplicates); for size realism.
        """
        band, time, mag, err = _merge(curves)
        if upto is not None:
            band, time, mag, err = band[:upto], time[:upto], mag[:upto], err[:upto]
        if time.size == 0:
            raise ValueError("cannot encode an alert without points")
        object_name = curves[0].object_id
        obj_id = lsst_object_id(object_name, self.realistic)
        flux, flux_err = mag_to_njy(mag, err)
        template = float(np.median(flux))
        rng = rng_for(object_name, time.size, time[-1]) if self.realistic else None
        sources = [
            self._source(obj_id, object_name, i, band[i], time[i], flux[i], flux_err[i],
                         template, rng)
            for i in range(time.size)
        ]
        alert: dict[str, Any] = self.filler.value(self.schema)
        trigger = sources[-1]
        if self.has_top_id:
            alert["diaSourceId"] = trigger["diaSourceId"]
        if self.has_alert_id:
            alert["alertId"] = trigger["diaSourceId"]
        alert["diaSource"] = trigger
        alert["prvDiaSources"] = sources[:-1]
        if "prvDiaForcedSources" in alert:
            alert["prvDiaForcedSources"] = (
                [self._forced(s, rng) for s in sources[:-1]] if forced else []
            )
        for key in ("cutoutDifference", "cutoutScience", "cutoutTemplate"):
            if key in alert:
                alert[key] = None
        if self.object_type is not None and "diaObject" in alert:
            obj = self.filler.record(self.object_type)
            if rng is not None:
                self._variety[self.object_type].apply(obj, rng)
            obj["diaObjectId"] = obj_id
            for key, value in (("ra", trigger["ra"]), ("dec", trigger["dec"]),
                               ("nDiaSources", len(sources))):
                if key in obj:
                    obj[key] = value
            alert["diaObject"] = obj
        return alert

    def _source(
        self, obj_id: int, name: str, i: int, band: str, time: float, flux: float,
        flux_err: float, template: float, rng: np.random.Generator | None = None,
    ) -> dict[str, Any]:
        s = dict(self._source_template)
        ra, dec = _radec(obj_id)
        values = {
            "diaSourceId": stable_id("diaSource", name, i, time),
            "diaObjectId": obj_id,
            "ssObjectId": None,
            "visit": 1000 + i,
            "detector": obj_id % 64,  # one CCD per object; <64 keeps one varint size
            "midpointMjdTai": float(time),
            "timeProcessedMjdTai": float(time) + 0.01,
            "timeWithdrawnMjdTai": None,
            "band": str(band),
            "ra": ra,
            "dec": dec,
            "scienceFlux": float(flux),
            "scienceFluxErr": float(flux_err),
            "psfFlux": float(flux - template),
            "psfFluxErr": float(flux_err),
            "snr": float(flux / flux_err) if flux_err > 0 else 0.0,
        }
        if rng is not None:
            self._variety[self.source_type].apply(s, rng)
            values.update(
                diaSourceId=full_range_id("diaSource", name, i, time),
                visit=visit_id(time, int(rng.integers(0, 100_000))),
                detector=int(rng.integers(0, N_DETECTORS)),
            )
            if rng.random() < P_NULL_FLUX:
                values["scienceFlux"] = None
            if rng.random() < P_WITHDRAWN:
                values["timeWithdrawnMjdTai"] = float(time) + 30.0
        for key, value in values.items():
            if key in s:
                s[key] = value
        return s

    def _forced(
        self, source: Mapping[str, Any], rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        f = self.filler.record(self.forced_type) if self.forced_type else {}
        if rng is not None and self.forced_type:
            self._variety[self.forced_type].apply(f, rng)
        for key in f:
            if key in source:
                f[key] = source[key]
        if "diaForcedSourceId" in f:
            make_id = full_range_id if rng is not None else stable_id
            f["diaForcedSourceId"] = make_id("forced", source["diaSourceId"])
        return f


#: Fields `_source`, `_forced` and `encode` set themselves (the variety leaves them alone).
_SET_BY_ENCODER = frozenset({
    "diaSourceId", "diaObjectId", "diaForcedSourceId", "ssObjectId", "visit", "detector",
    "midpointMjdTai", "timeProcessedMjdTai", "timeWithdrawnMjdTai", "band", "ra", "dec",
    "scienceFlux", "scienceFluxErr", "psfFlux", "psfFluxErr", "snr", "nDiaSources",
})


def _merge(curves: Sequence[LightCurve]) -> tuple[np.ndarray, ...]:
    """All points of one object's curves in time order (band from each curve)."""
    if not curves:
        raise ValueError("no light curves to encode")
    band = np.concatenate([np.full(len(c), c.band or "r", dtype=object) for c in curves])
    time = np.concatenate([c.time for c in curves])
    mag = np.concatenate([c.mag for c in curves])
    err = np.concatenate([c.err for c in curves])
    ok = np.isfinite(time) & np.isfinite(mag) & np.isfinite(err)
    band, time, mag, err = band[ok], time[ok], mag[ok], err[ok]
    order = np.argsort(time, kind="stable")
    return band[order], time[order], mag[order], err[order]


def _radec(obj_id: int) -> tuple[float, float]:
    return (obj_id % 360_000) / 1000.0, ((obj_id // 360_000) % 120_000) / 1000.0 - 60.0
