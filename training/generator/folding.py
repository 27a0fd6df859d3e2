"""Phase folding: a light curve with a known period -> a fixed-length, normalised sequence.

PELS-VAE sees `cycles` consecutive copies of one folded cycle of `n_phase` observed points
(phase, normalised magnitude, normalised error), so a causal convolution has a whole cycle
of context before the second one. Curves are aligned so that minimum light (the maximum of
a 4-harmonic Fourier fit, i.e. the primary eclipse of a binary) sits at phase 0.5: without that, the
random epoch of each star would eat a latent dimension the physical parameters cannot
predict. Magnitudes are scaled by robust range: m' = (m - q02) / (q98 - q02), so the decoder
works in [0, 1] and synthesis scales back to a reference star's range the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from broker_plugin.lightcurve import LightCurve

RANGE_QUANTILES = (0.02, 0.98)
MIN_LIGHT_PHASE = 0.5
_ALIGN_BINS = 20
_HARMONICS = 4
_FINE_GRID = 400


@dataclass(frozen=True)
class FoldedBatch:
    """x (N, 3, cycles·n_phase) float32 rows (phase, mag', err'); per-curve robust range."""

    x: np.ndarray
    mag_low: np.ndarray
    mag_high: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


def robust_range(mag: np.ndarray) -> tuple[float, float]:
    """(q02, q98) of the finite magnitudes, widened to at least 1 mmag."""
    lo, hi = np.quantile(mag, RANGE_QUANTILES)
    if hi - lo < 1e-3:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - 5e-4, mid + 5e-4
    return float(lo), float(hi)


def min_light_phase(phase: np.ndarray, mag: np.ndarray) -> float:
    """Phase of minimum light: the maximum of a least-squares Fourier series (4 harmonics)
    evaluated on a fine grid. A smooth fit, unlike the faintest bin, does not jitter by a
    bin width from noise, which would smear every class's mean shape."""
    harmonics = np.arange(1, _HARMONICS + 1)

    def design(p: np.ndarray) -> np.ndarray:
        angle = 2 * np.pi * p[:, None] * harmonics
        return np.hstack([np.ones((p.size, 1)), np.sin(angle), np.cos(angle)])

    if phase.size < 2 * _HARMONICS + 2:
        return _faintest_bin(phase, mag)
    coef, *_ = np.linalg.lstsq(design(phase), mag, rcond=None)
    fine = np.arange(_FINE_GRID) / _FINE_GRID
    return float(fine[np.argmax(design(fine) @ coef)])


def _faintest_bin(phase: np.ndarray, mag: np.ndarray) -> float:
    """Phase of the faintest bin of mean magnitudes (fallback for very short curves)."""
    bins = np.minimum((phase * _ALIGN_BINS).astype(np.int64), _ALIGN_BINS - 1)
    sums = np.bincount(bins, weights=mag, minlength=_ALIGN_BINS)
    counts = np.bincount(bins, minlength=_ALIGN_BINS)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
    return (int(np.argmax(means)) + 0.5) / _ALIGN_BINS


def fold_curve(
    curve: LightCurve, period: float, n_phase: int, cycles: int, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """(3, cycles·n_phase) folded rows of one curve plus its robust magnitude range.

    Curves with more than `n_phase` points are subsampled without replacement, shorter ones
    with replacement; points are sorted by aligned phase and repeated for each cycle (the
    phase channel counts cycles: 0..cycles).
    """
    ok = np.isfinite(curve.time) & np.isfinite(curve.mag) & np.isfinite(curve.err)
    time, mag, err = curve.time[ok], curve.mag[ok], curve.err[ok]
    lo, hi = robust_range(mag)
    phase = np.mod((time - time.min()) / period, 1.0)
    phase = np.mod(phase - min_light_phase(phase, mag) + MIN_LIGHT_PHASE, 1.0)
    pick = rng.choice(time.size, size=n_phase, replace=time.size < n_phase)
    order = np.argsort(phase[pick], kind="stable")
    pick = pick[order]
    scale = hi - lo
    one = np.stack([phase[pick], (mag[pick] - lo) / scale, np.abs(err[pick]) / scale])
    rows = np.tile(one, (1, cycles))
    rows[0] += np.repeat(np.arange(cycles, dtype=np.float64), n_phase)
    return rows, lo, hi


def fold_curves(
    curves: Sequence[LightCurve],
    periods: np.ndarray,
    n_phase: int,
    cycles: int,
    seed: int = 0,
) -> FoldedBatch:
    """Fold many curves (a loop over curves, vectorised within each one)."""
    rng = np.random.default_rng(seed)
    length = n_phase * cycles
    x = np.zeros((len(curves), 3, length), dtype=np.float32)
    lows = np.zeros(len(curves))
    highs = np.zeros(len(curves))
    for i, (curve, period) in enumerate(zip(curves, periods, strict=True)):
        rows, lows[i], highs[i] = fold_curve(curve, float(period), n_phase, cycles, rng)
        x[i] = rows
    return FoldedBatch(x=x, mag_low=lows, mag_high=highs)


def phase_grid(n_phase: int, cycles: int) -> np.ndarray:
    """Regular phases (cycles·n_phase,) at bin centres, counting cycles like `fold_curve`."""
    one = (np.arange(n_phase) + 0.5) / n_phase
    return (one[None, :] + np.arange(cycles)[:, None]).ravel()
