"""Stellar physics shared by all classes: luminosity, bolometric corrections, colours, gravity.

Every function is vectorised over numpy arrays. Sources of the numbers:
- solar constants: IAU 2015 Resolution B3 nominal values (Prša et al. 2016);
- bolometric correction in Gaia G: Andrae et al. (2018, A&A 616, A8), eq. 7 and Table 8
  (Apsis-FLAME), valid for 3,300–8,000 K; we extrapolate it (with a clamp) for cooler LPVs;
- solar absolute magnitudes per band: Willmer (2018, ApJS 236, 47): G, V, I_C in Vega, LSST
  ugrizy in AB;
- colours away from the Sun: black-body ratios at each band's effective wavelength,
  anchored to the solar colours above (a first-order model: it ignores molecular bands, so
  M-giant colours are too blue);
- ellipsoidal variation: Morris (1985, ApJ 295, 143); Roche lobe: Eggleton (1983, ApJ 268,
  368); Kepler's third law in solar units.
"""

from __future__ import annotations

import numpy as np

#: Nominal solar effective temperature [K] and bolometric magnitude (IAU 2015 B2/B3).
TEFF_SUN = 5772.0
MBOL_SUN = 4.74
#: log10 of the solar surface gravity in cgs (G M_sun / R_sun^2 = 27,420 cm s^-2).
LOGG_SUN = 4.438
#: a [R_sun] = AU_IN_RSUN * (M_tot [M_sun])^(1/3) * (P [yr])^(2/3); 1 AU = 215.03 R_sun.
AU_IN_RSUN = 215.032
DAYS_PER_YEAR = 365.25

#: Effective wavelengths [micron] of the bands the simulator renders.
BAND_WAVELENGTH: dict[str, float] = {
    "V": 0.551, "G": 0.640, "I": 0.806,
    "u": 0.368, "g": 0.480, "r": 0.622, "i": 0.754, "z": 0.869, "y": 0.971,
}
#: Solar absolute magnitudes (Willmer 2018): G, V, I Vega; ugrizy AB (LSST filters).
SUN_ABS_MAG: dict[str, float] = {
    "V": 4.81, "G": 4.67, "I": 4.10,
    "u": 6.27, "g": 5.06, "r": 4.64, "i": 4.52, "z": 4.51, "y": 4.50,
}
_HC_OVER_K = 14387.77  # hc/k in micron K

# Andrae et al. (2018) Table 8: BC_G = sum a_i (Teff - Teff_sun)^i.
_BC_HOT = (6.000e-02, 6.731e-05, -6.647e-08, 2.859e-11, -7.197e-15)  # 4,000-8,000 K
_BC_COOL = (1.749e00, 1.977e-03, 3.737e-07, -8.966e-11, -4.183e-14)  # 3,300-4,000 K


def bolometric_correction_g(teff: np.ndarray) -> np.ndarray:
    """BC_G(Teff) of Andrae et al. (2018); clamped to 2,300-9,500 K outside its range."""
    t = np.clip(np.asarray(teff, dtype=float), 2300.0, 9500.0) - TEFF_SUN
    hot = np.polynomial.polynomial.polyval(t, _BC_HOT)
    cool = np.polynomial.polynomial.polyval(t, _BC_COOL)
    return np.where(t + TEFF_SUN < 4000.0, cool, hot)


def planck_ratio(wavelength: float, teff: np.ndarray) -> np.ndarray:
    """B_lambda(T) up to a constant at one wavelength [micron]: 1 / lambda^5 (e^x - 1)."""
    x = _HC_OVER_K / (wavelength * np.asarray(teff, dtype=float))
    return 1.0 / (wavelength**5 * np.expm1(x))


def colour_minus_g(band: str, teff: np.ndarray) -> np.ndarray:
    """M_band - M_G for a star of temperature Teff: black-body, anchored to solar colours."""
    lam_b, lam_g = BAND_WAVELENGTH[band], BAND_WAVELENGTH["G"]
    teff = np.asarray(teff, dtype=float)
    star = -2.5 * np.log10(planck_ratio(lam_b, teff) / planck_ratio(lam_g, teff))
    sun = -2.5 * np.log10(planck_ratio(lam_b, TEFF_SUN) / planck_ratio(lam_g, TEFF_SUN))
    return star - sun + SUN_ABS_MAG[band] - SUN_ABS_MAG["G"]


def temperature_sensitivity(band: str, teff: np.ndarray) -> np.ndarray:
    """d ln B_lambda / d ln T = x e^x / (e^x - 1): how strongly a band reacts to T changes.

    A pulsator's light variation is mostly a temperature variation, so the ratio of this
    between two bands is the black-body amplitude ratio (e.g. A_I / A_V ~ 0.7 at 6,500 K;
    observed ~0.6 for RR Lyrae and Cepheids, Soszyński et al. 2009; see
    `pulsation_amplitude_ratio` for the correction).
    """
    x = _HC_OVER_K / (BAND_WAVELENGTH[band] * np.asarray(teff, dtype=float))
    return x / -np.expm1(-x)


#: Red amplitudes fall faster than the black-body temperature term says (the radius
#: variation, which it ignores, works against it): an extra (lambda_V / lambda)^slope.
#: Fitted to the 379 SDSS Stripe 82 RRab in ../shared/data (peak-to-peak g : r : i of
#: 0.89 : 0.64 : 0.51); it also gives A_I / A_V = 0.57 (observed ~0.6) and the I amplitudes
#: of the OGLE-III LMC Cepheids (median 5-95 % range 0.43 mag).
RED_AMPLITUDE_SLOPE = 0.62


def pulsation_amplitude_ratio(band: str, teff: np.ndarray) -> np.ndarray:
    """A_band / A_V for a pulsator; u is capped at g (Balmer jump, Sesar et al. 2010)."""
    if band == "u":
        band = "g"
    black_body = temperature_sensitivity(band, teff) / temperature_sensitivity("V", teff)
    return black_body * (BAND_WAVELENGTH["V"] / BAND_WAVELENGTH[band]) ** RED_AMPLITUDE_SLOPE


def luminosity_from_abs_gmag(abs_gmag: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """L / L_sun from M_G and Teff (M_bol = M_G + BC_G)."""
    mbol = np.asarray(abs_gmag) + bolometric_correction_g(teff)
    return 10.0 ** (0.4 * (MBOL_SUN - mbol))


def abs_gmag_from_luminosity(luminosity: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """M_G from L / L_sun and Teff (inverse of `luminosity_from_abs_gmag`)."""
    mbol = MBOL_SUN - 2.5 * np.log10(luminosity)
    return mbol - bolometric_correction_g(teff)


def radius_from_luminosity(luminosity: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Stefan-Boltzmann: R / R_sun = sqrt(L / L_sun) (T_sun / T)^2."""
    return np.sqrt(luminosity) * (TEFF_SUN / np.asarray(teff)) ** 2


def teff_from_luminosity_radius(luminosity: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Stefan-Boltzmann solved for Teff."""
    return TEFF_SUN * (np.asarray(luminosity) / np.asarray(radius) ** 2) ** 0.25


def log_gravity(mass: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """log10 g [cgs] = log10(G M / R^2), M and R in solar units."""
    return LOGG_SUN + np.log10(mass) - 2.0 * np.log10(radius)


def semi_major_axis(total_mass: np.ndarray, period_days: np.ndarray) -> np.ndarray:
    """Kepler's third law: a [R_sun] for total mass [M_sun] and period [d]."""
    years = np.asarray(period_days) / DAYS_PER_YEAR
    return AU_IN_RSUN * np.cbrt(np.asarray(total_mass) * years**2)


def roche_lobe_fraction(q: np.ndarray) -> np.ndarray:
    """Eggleton (1983): r_L / a for a star whose companion has mass ratio q = M_self / M_other."""
    q23 = np.asarray(q, dtype=float) ** (2.0 / 3.0)
    return 0.49 * q23 / (0.6 * q23 + np.log1p(np.cbrt(q)))


def band_abs_mag(band: str, abs_gmag: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Absolute magnitude in `band` for a star of M_G and Teff."""
    return np.asarray(abs_gmag) + colour_minus_g(band, teff)
