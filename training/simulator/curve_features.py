"""Simple per-curve statistics (no period search), computed for many curves at once.

Used by the induced-bias split (a random forest on them decides how "easy" each star is)
and by the realism check. All reductions run over flat arrays with `np.add.reduceat`, so
there is no Python loop over points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from broker_plugin.lightcurve import LightCurve

FEATURE_NAMES: tuple[str, ...] = (
    "log_n_points", "log_baseline", "log_median_dt", "amplitude", "std", "mad", "skew",
    "kurtosis", "beyond_1std", "von_neumann", "log_p2p_ratio",
)


def curve_features(curves: Sequence[LightCurve]) -> np.ndarray:
    """(N, len(FEATURE_NAMES)) float64; rows of curves with < 3 points are NaN."""
    n = len(curves)
    out = np.full((n, len(FEATURE_NAMES)), np.nan)
    sorted_curves = [c.sorted() for c in curves]
    counts = np.array([len(c) for c in sorted_curves])
    good = counts >= 3
    if not good.any():
        return out
    idx = np.flatnonzero(good)
    cnt = counts[idx]
    t = np.concatenate([sorted_curves[i].time for i in idx])
    m = np.concatenate([sorted_curves[i].mag for i in idx])
    starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    seg = np.repeat(np.arange(idx.size), cnt)
    mean = np.add.reduceat(m, starts) / cnt
    d = m - mean[seg]
    var = np.add.reduceat(d**2, starts) / cnt
    std = np.sqrt(var)
    skew = np.add.reduceat(d**3, starts) / cnt / np.maximum(std, 1e-9) ** 3
    kurt = np.add.reduceat(d**4, starts) / cnt / np.maximum(var, 1e-18) ** 2 - 3.0
    beyond = np.add.reduceat((np.abs(d) > std[seg]).astype(float), starts) / cnt
    # per-curve quantiles via a sort within segments (lexsort on (mag, seg))
    order = np.lexsort((m, seg))
    ms = m[order]
    def quantile(q: float) -> np.ndarray:
        pos = starts + np.floor(q * (cnt - 1)).astype(np.int64)
        return ms[pos]
    median = quantile(0.5)
    amplitude = quantile(0.95) - quantile(0.05)
    absdev = np.abs(m - median[seg])
    mad = np.sort(absdev + seg * 1e6)[starts + (cnt - 1) // 2] - seg[starts] * 1e6
    # consecutive differences (within a curve only)
    dm, dt = np.diff(m), np.diff(t)
    same = np.diff(seg) == 0
    dm, dt, dseg = dm[same], dt[same], seg[1:][same]
    n_diff = cnt - 1
    dstarts = np.concatenate([[0], np.cumsum(n_diff)[:-1]])
    eta = np.add.reduceat(dm**2, dstarts) / n_diff / np.maximum(var, 1e-18)
    dt_sorted = np.sort(dt + dseg * 1e7)[dstarts + (n_diff - 1) // 2] - dseg[dstarts] * 1e7
    p2p = np.sqrt(np.add.reduceat(dm**2, dstarts) / n_diff / 2.0)
    baseline = np.add.reduceat(dt, dstarts)
    out[idx] = np.column_stack([
        np.log10(cnt), np.log10(np.maximum(baseline, 1e-3)),
        np.log10(np.maximum(dt_sorted, 1e-5)), amplitude, std, mad, skew, kurt, beyond, eta,
        np.log10(np.maximum(p2p, 1e-6) / np.maximum(std, 1e-6)),
    ])
    return out
