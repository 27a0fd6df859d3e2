"""The first n points of a light curve: what an alert stream sees of a young object.

One rule for every column of the cross-survey table (our CNN, the feature forest, UPSILoN
in `bench/peer_upsilon.py`, which restates it for its own environment): drop rows with a
non-finite time, magnitude or error, sort by time, keep the first n rows. n = 0 keeps all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from broker_plugin.lightcurve import LightCurve


def first_points(curve: LightCurve, n: int) -> LightCurve:
    """`curve` cut to its first `n` usable points in time order (n = 0: all usable points)."""
    usable = np.isfinite(curve.time) & np.isfinite(curve.mag) & np.isfinite(curve.err)
    index = np.flatnonzero(usable)
    index = index[np.argsort(curve.time[index], kind="stable")]
    if n > 0:
        index = index[:n]
    return curve.with_(time=curve.time[index], mag=curve.mag[index], err=curve.err[index])


def truncate_all(curves: Sequence[LightCurve], n: int) -> list[LightCurve]:
    """`first_points` of every curve."""
    return [first_points(c, n) for c in curves]
