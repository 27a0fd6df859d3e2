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


def above_snr(curves: Sequence[LightCurve], min_snr: float) -> list[LightCurve]:
    """The curves with sn_ratio ≥ min_snr (all of them when min_snr is 0)."""
    if min_snr <= 0:
        return list(curves)
    return [c for c in curves if sn_ratio(c) >= min_snr]
