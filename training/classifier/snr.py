"""Signal-to-noise of a light curve, and the training-data cut on it (paper §5, Table 5).

sn_ratio = robust semi-amplitude / median photometric error, with the semi-amplitude half
the 5–95 % range of the magnitudes. The paper defines it as amplitude over median error;
percentiles rather than max − min keep one outlier from making a flat curve look loud, and
the semi-amplitude is what a sinusoid's amplitude means. Curves with no valid error get
NaN and fail any cut above 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from broker_plugin.lightcurve import LightCurve


def sn_ratio(curve: LightCurve) -> float:
    """Semi-amplitude (half the 5–95 % range) over the median error; NaN without errors."""
    mag = np.asarray(curve.mag, dtype=float)
    err = np.asarray(curve.err, dtype=float)
    mag, err = mag[np.isfinite(mag)], err[np.isfinite(err) & (err > 0)]
    if mag.size < 2 or err.size == 0:
        return float("nan")
    p5, p95 = np.percentile(mag, [5, 95])
    return float((p95 - p5) / 2 / np.median(err))


#: A cut never leaves a class with fewer curves than this (its loudest ones stay): a class
#: gone from training makes the comparison meaningless, and the two-losses generator needs a
#: few curves of every class to fit at all.
MIN_PER_CLASS = 10


def above_snr(curves: Sequence[LightCurve], min_snr: float,
              keep_per_class: int | None = None) -> list[LightCurve]:
    """The curves with sn_ratio ≥ min_snr (all of them when min_snr is 0), in their order;
    a class with fewer than `keep_per_class` (default `MIN_PER_CLASS`) curves above the cut
    keeps its loudest ones."""
    if min_snr <= 0:
        return list(curves)
    if keep_per_class is None:
        keep_per_class = MIN_PER_CLASS
    ratios = np.nan_to_num(np.array([sn_ratio(c) for c in curves], dtype=float), nan=-np.inf)
    keep = ratios >= min_snr
    labels = np.array([c.label or "" for c in curves])
    for label in np.unique(labels):
        mine = np.flatnonzero(labels == label)
        short = keep_per_class - int(keep[mine].sum())
        if short > 0:
            loudest = mine[np.argsort(-ratios[mine], kind="stable")]
            keep[loudest[:keep_per_class]] = True
    return [c for c, k in zip(curves, keep, strict=True) if k]
