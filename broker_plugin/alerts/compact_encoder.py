"""LightCurves of one object → our compact alert (schemas/compact_alert.avsc)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from broker_plugin.alerts.lsst_encoder import _merge, stable_id
from broker_plugin.lightcurve import LightCurve


def encode_compact(
    curves: Sequence[LightCurve], *, upto: int | None = None, origin: str = ""
) -> dict[str, Any]:
    """The compact alert for the first `upto` points (time order, all bands) of one object."""
    band, time, mag, err = _merge(curves)
    if upto is not None:
        band, time, mag, err = band[:upto], time[:upto], mag[:upto], err[:upto]
    if time.size == 0:
        raise ValueError("cannot encode an alert without points")
    name = curves[0].object_id
    return {
        "alert_id": str(stable_id("compact", name, time.size, time[-1])),
        "object_id": str(name),
        "alert_mjd": float(time[-1]),
        "origin": origin or str(curves[0].survey or ""),
        "bands": [
            {
                "band": str(b),
                "time": time[band == b].tolist(),
                "mag": mag[band == b].tolist(),
                "err": err[band == b].tolist(),
            }
            for b in sorted(set(band.tolist()))
        ],
    }
