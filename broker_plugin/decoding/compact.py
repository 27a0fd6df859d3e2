"""Our compact light-curve alert (schemas/compact_alert.avsc): arrays per band, no conversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def points_from_dict(alert: Mapping[str, Any]) -> tuple[str, str, float, tuple[np.ndarray, ...]]:
    """(alert id, object id, alert MJD, (band, time, mag, err)) of a decoded compact alert."""
    bands, times, mags, errs = [], [], [], []
    for seg in alert["bands"]:
        t = np.asarray(seg["time"], np.float64)
        bands.append(np.full(t.size, seg["band"], dtype=object))
        times.append(t)
        mags.append(np.asarray(seg["mag"], np.float64))
        errs.append(np.asarray(seg["err"], np.float64))
    if times:
        band = np.concatenate(bands).astype(str)
        time, mag, err = np.concatenate(times), np.concatenate(mags), np.concatenate(errs)
    else:
        band, time, mag, err = np.empty(0, str), *(np.empty(0) for _ in range(3))
    keep = np.isfinite(time) & np.isfinite(mag) & np.isfinite(err)
    return (
        str(alert["alert_id"]),
        str(alert["object_id"]),
        float(alert["alert_mjd"]),
        (band[keep], time[keep], mag[keep], err[keep]),
    )
