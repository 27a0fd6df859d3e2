"""ZTF alerts (schema 3.x): detections of `candidate` + `prv_candidates` as apparent magnitudes.

Upper limits (null `magpsf`) are not points. `magpsf` is a difference-image magnitude; with
``magnitude="dc"`` (default) it is combined with the reference source (`magnr`, `sigmagnr`,
`isdiffpos`) into the apparent magnitude (see `photometry.ztf_dc_magnitude`). Points whose
reference is missing, lies more than `max_distnr` arcsec away (the reference is then another
source), or whose total flux comes out ≤ 0 are dropped. ``magnitude="difference"`` keeps
`magpsf` as it is (for transients rather than variable stars).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from broker_plugin.decoding.lsst import UnsupportedSchemaError, record_fields
from broker_plugin.decoding.photometry import ztf_dc_magnitude

JD_TO_MJD = 2400000.5
FILTERS = {1: "g", 2: "r", 3: "i"}
#: Beyond this distance (arcsec) the nearest reference source is not the candidate.
MAX_DISTNR_ARCSEC = 1.4


def check_schema(schema: Mapping[str, Any]) -> None:
    """`UnsupportedSchemaError` naming the fields `points_from_dict` needs that `schema` lacks.

    A container brings its own schema, so its records can lack anything (bench/fuzz.py: a
    'ztf.alert' without `candidate` was an internal error, not a rejected alert).
    """
    top = [f.get("name") for f in schema.get("fields", ()) if isinstance(f, Mapping)]
    missing = [name for name in ("objectId", "candidate") if name not in top]
    if "candidate" in top:
        candidate = record_fields(schema, "candidate")
        missing += [f"candidate.{name}" for name in ("candid", "jd") if name not in candidate]
    if missing:
        raise UnsupportedSchemaError(
            f"ZTF schema {schema.get('name')!r} has no field(s) {missing}; a ZTF alert needs "
            "objectId and a candidate with candid and jd"
        )


def _f(rows: list[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([np.nan if r.get(name) is None else r[name] for r in rows], dtype=np.float64)


def points_from_dict(
    alert: Mapping[str, Any], magnitude: str = "dc", max_distnr: float = MAX_DISTNR_ARCSEC
) -> tuple[str, str, float, tuple[np.ndarray, ...]]:
    """(alert id, object id, alert MJD, (band, time, mag, err)) of a decoded ZTF alert."""
    cand = alert["candidate"]
    rows = [cand, *(alert.get("prv_candidates") or [])]
    rows = [r for r in rows if r.get("magpsf") is not None and r.get("fid") in FILTERS]
    band = np.array([FILTERS[r["fid"]] for r in rows], dtype=str)
    time = _f(rows, "jd") - JD_TO_MJD
    magpsf, sigmapsf = _f(rows, "magpsf"), _f(rows, "sigmapsf")
    if magnitude == "dc":
        positive = np.array([str(r.get("isdiffpos")) in ("t", "1") for r in rows], dtype=bool)
        has_ref = np.array(
            [r.get("isdiffpos") is not None and r.get("magnr") is not None for r in rows],
            dtype=bool,
        )
        distnr = _f(rows, "distnr")
        with np.errstate(invalid="ignore"):
            has_ref &= ~(distnr > max_distnr)
        mag, err = ztf_dc_magnitude(magpsf, sigmapsf, _f(rows, "magnr"), _f(rows, "sigmagnr"),
                                    positive)
        mag[~has_ref] = np.nan
    elif magnitude == "difference":
        mag, err = magpsf, sigmapsf
    else:
        raise ValueError(f"magnitude must be 'dc' or 'difference', got {magnitude!r}")
    keep = np.isfinite(time) & np.isfinite(mag) & np.isfinite(err)
    return (
        str(alert.get("candid") or cand["candid"]),
        str(alert["objectId"]),
        float(cand["jd"]) - JD_TO_MJD,
        (band[keep], time[keep], mag[keep], err[keep]),
    )
