"""LightCurves of one object → a ZTF alert dict (candidate + prv_candidates).

The decoder turns `magpsf` back into an apparent magnitude with the reference (`magnr`,
`isdiffpos`), so the encoder does the inverse: per band the reference magnitude is the band's
median, the difference flux is total − reference (`isdiffpos` 't' when ≥ 0, else 'f'), and
`sigmapsf` carries the whole error (`sigmagnr` = 0): decode(encode(curve)) == curve up to the
float32 rounding of the packet's magnitudes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from broker_plugin.alerts.fill import Filler
from broker_plugin.alerts.lsst_encoder import _merge, stable_id
from broker_plugin.decoding.photometry import ztf_difference_for
from broker_plugin.decoding.ztf import JD_TO_MJD
from broker_plugin.lightcurve import LightCurve

FID = {"g": 1, "r": 2, "i": 3}


class ZtfAlertEncoder:
    """Builds ZTF alert dicts for a ZTF schema (ours, `schemas/ztf_alert.avsc`, or ZTF's)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.filler = Filler(schema)

    def encode(self, curves: Sequence[LightCurve], *, upto: int | None = None) -> dict[str, Any]:
        """The alert for the first `upto` points (time order) of one object (bands g, r, i)."""
        bad = sorted({str(c.band) for c in curves if c.band not in FID})
        if bad:
            raise ValueError(f"ZTF has bands g, r, i only; cannot encode bands {bad}")
        band, time, mag, err = _merge(curves)
        magnr = np.zeros_like(mag)
        for b in set(band):
            magnr[band == b] = np.median(mag[band == b])  # median over the full history
        if upto is not None:
            band, time, mag, err, magnr = (a[:upto] for a in (band, time, mag, err, magnr))
        magpsf, positive = ztf_difference_for(mag, magnr)
        magpsf = np.minimum(magpsf, 99.0)  # a point exactly at the reference
        f_tot = 10.0 ** (-0.4 * mag)
        f_diff = 10.0 ** (-0.4 * magpsf)
        sigmapsf = err * f_tot / f_diff
        name = curves[0].object_id
        rows = []
        for i in range(time.size):
            cand = self.filler.record("prv_candidate" if i < time.size - 1 else "candidate")
            cand.update(
                jd=float(time[i] + JD_TO_MJD), fid=FID[band[i]], pid=stable_id("pid", name, i),
                programid=1, candid=stable_id("candid", name, i, time[i]),
                isdiffpos="t" if positive[i] else "f", ra=10.0, dec=20.0,
                magpsf=float(magpsf[i]), sigmapsf=float(sigmapsf[i]), distnr=0.1,
                magnr=float(magnr[i]), sigmagnr=0.0, diffmaglim=21.0,
            )
            rows.append({k: v for k, v in cand.items()})
        alert: dict[str, Any] = self.filler.value(self.schema)
        alert.update(
            schemavsn="3.3", publisher="selfreg-varstars", objectId=str(name),
            candid=rows[-1]["candid"], candidate=rows[-1], prv_candidates=rows[:-1],
        )
        return alert
