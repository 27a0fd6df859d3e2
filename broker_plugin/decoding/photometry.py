"""Flux and magnitude conversions shared by the decoders and the encoders (vectorised).

LSST fluxes are in nJy: AB magnitude m = 31.4 − 2.5·log10(f / nJy), σ_m = 2.5/ln10 · σ_f/f.
ZTF `magpsf` is a difference-image magnitude; the apparent ("DC") magnitude adds the reference
flux: f = 10^(−0.4·magnr) ± 10^(−0.4·magpsf) (+ when `isdiffpos` is 't'/'1', − when 'f'/'0'),
σ_f² = (0.4·ln10)²·(f_ref²·sigmagnr² + f_diff²·sigmapsf²), m = −2.5·log10 f, σ_m = 2.5/ln10·σ_f/f.
"""

from __future__ import annotations

import numpy as np

#: AB zero point of a flux in nJy.
NJY_ZEROPOINT = 31.4
_K = 2.5 / np.log(10.0)  # 1.0857...: d(mag) / d(ln flux)


def njy_to_mag(flux: np.ndarray, flux_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AB magnitude and error from flux and flux error in nJy (flux must be > 0)."""
    flux = np.asarray(flux, dtype=np.float64)
    return NJY_ZEROPOINT - 2.5 * np.log10(flux), _K * np.asarray(flux_err, np.float64) / flux


def mag_to_njy(mag: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `njy_to_mag`."""
    flux = 10.0 ** (-0.4 * (np.asarray(mag, np.float64) - NJY_ZEROPOINT))
    return flux, np.asarray(err, np.float64) * flux / _K


def usable_flux(flux: np.ndarray, flux_err: np.ndarray) -> np.ndarray:
    """Mask of points with a finite positive flux and a finite non-negative error."""
    with np.errstate(invalid="ignore"):
        return np.asarray(
            np.isfinite(flux) & (flux > 0) & np.isfinite(flux_err) & (flux_err >= 0), bool)


def ztf_dc_magnitude(
    magpsf: np.ndarray,
    sigmapsf: np.ndarray,
    magnr: np.ndarray,
    sigmagnr: np.ndarray,
    positive: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Apparent magnitude and error from difference and reference photometry (NaN if f ≤ 0)."""
    f_ref = 10.0 ** (-0.4 * np.asarray(magnr, np.float64))
    f_diff = 10.0 ** (-0.4 * np.asarray(magpsf, np.float64))
    total = f_ref + np.where(positive, f_diff, -f_diff)
    var = (f_ref * np.asarray(sigmagnr, np.float64)) ** 2 + (
        f_diff * np.asarray(sigmapsf, np.float64)
    ) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        good = total > 0
        mag = np.where(good, -2.5 * np.log10(np.where(good, total, 1.0)), np.nan)
        err = np.where(good, np.sqrt(var) / np.where(good, total, 1.0), np.nan)
    return mag, err


def ztf_difference_for(
    mag: np.ndarray, magnr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(magpsf, isdiffpos) such that `ztf_dc_magnitude` gives `mag` back (encoders)."""
    f_tot = 10.0 ** (-0.4 * np.asarray(mag, np.float64))
    f_diff = f_tot - 10.0 ** (-0.4 * np.asarray(magnr, np.float64))
    with np.errstate(divide="ignore"):  # a point exactly at the reference: +inf
        return -2.5 * np.log10(np.abs(f_diff)), f_diff >= 0
