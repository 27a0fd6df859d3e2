"""Physical parameters per class: a few free draws, the rest from physical relations.

Each `draw_<class>` returns a `Population`: a dict of equal-length arrays holding the six
public parameters (period [d], teff [K], feh [dex], abs_gmag [mag], logg [cgs], radius
[R_sun]), `subclass`, `mass`, and what the light-curve shapes need. Relations used:
- RR Lyrae: M_G = 1.11 + 0.32 [Fe/H] (Muraveva et al. 2018, MNRAS 481, 1195, Gaia DR2);
  period from the pulsation equation log P0 = 11.497 + 0.84 log L - 0.68 log M - 3.48 log Teff
  (van Albada & Baker 1971, ApJ 169, 311); P1/P0 = 0.745 for RRc (Catelan & Smith 2015);
  RRab light-curve phase phi31 from [Fe/H] and P (Jurcsik & Kovács 1996, A&A 312, 111).
- Cepheids: Leavitt law in I for the LMC, I = 16.594 - 2.962 log P (Soszyński et al. 2008) at
  mu_LMC = 18.477 (Pietrzyński et al. 2019); period-radius log R = 1.146 + 0.680 log P
  (Gieren et al. 1998, ApJ 496, 17); mass-luminosity log L = 0.90 + 3.35 log M (Bono et al.
  2000, ApJ 543, 955); first overtones fundamentalised with P1/P0 = 0.72 (Alcock et al. 1995).
- delta Scuti: M_V = -2.89 log P - 1.31 (McNamara 2011, AJ 142, 110); L proportional to M^4;
  first overtone at P1/P0 = 0.773 (Stellingwerf 1979).
- Eclipsing binaries: main-sequence R(M) (Demircan & Kahraman 1991) and L(M) ~ M^4 (M^3.5
  above 2 M_sun), Kepler's third law, Roche lobes (Eggleton 1983).
- LPV: Mira PL M_K = -3.51 (log P - 2.38) - 7.15 (Whitelock et al. 2008, MNRAS 386, 313),
  BC_K = 2.8 (Whitelock et al. 2000); semiregulars on sequence C' (P ~ 0.53 P_C, Wood 2000).
Everything passes through Stefan-Boltzmann and BC_G (see `physics`), so the six parameters
are mutually consistent: L = R^2 (T/T_sun)^4, M_G = M_bol - BC_G(T), logg = log G M / R^2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.simulator import physics as ph
from training.simulator.priors import draw, load_priors, subclass_fractions

Population = dict[str, np.ndarray]

#: Harmonics in the Fourier shapes of pulsators.
N_HARMONICS = 8
#: Extra pulsation modes a DSCT can carry besides the dominant one.
MAX_EXTRA_MODES = 4
#: Fourier parameters of fundamental-mode Cepheids against log P: the Hertzsprung
#: progression, as medians per log-P bin of the 1,817 OGLE-III LMC F-mode Cepheids in
#: ../shared/data (I band, sine convention, fitted at the catalogue period; cf. Soszyński et
#: al. 2008, AcA 58, 163, Fig. 4). phi31 is unwrapped. R21 dips and phi21 climbs towards the
#: 2:1 resonance near 10 d, so curves go from saw-tooth (2 d) to nearly symmetric (6-12 d).
CEP_F_LOG_P = np.array([0.11, 0.29, 0.46, 0.56, 0.70, 0.84, 0.94, 0.99, 1.07, 1.15, 1.33])
CEP_F_R21 = np.array([0.41, 0.45, 0.44, 0.42, 0.41, 0.33, 0.23, 0.15, 0.11, 0.18, 0.28])
CEP_F_R31 = np.array([0.22, 0.25, 0.23, 0.21, 0.16, 0.13, 0.12, 0.10, 0.14, 0.14, 0.18])
CEP_F_PHI21 = np.array([2.54, 2.74, 2.90, 3.04, 3.25, 3.65, 4.06, 4.34, 3.15, 3.32, 3.39])
CEP_F_PHI31 = np.array([5.14, 5.62, 5.85, 6.12, 6.47, 6.73, 7.53, 9.15, 10.34, 11.59, 12.64])
#: Band in which a class's `amplitude` prior is given.
AMPLITUDE_BAND = {"RRLYR": "V", "CEP": "V", "DSCT": "V", "LPV": "I", "ECL": None}


def _subclass_draw(
    label: str, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    names, weights = subclass_fractions(label)
    idx = rng.choice(len(names), size=n, p=weights)
    masks = {name: idx == i for i, name in enumerate(names)}
    return np.array(names, dtype=object)[idx], masks


def _per_subclass(
    label: str, key: str, masks: dict[str, np.ndarray], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw `key` from each subclass's own prior, for that subclass's members."""
    out = np.full(n, np.nan)
    for name, mask in masks.items():
        spec = load_priors()[label][name].get(key)
        if spec is not None and mask.any():
            out[mask] = draw(spec, int(mask.sum()), rng)
    return out


def _per_subclass_value(label: str, key: str, masks: dict[str, np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n)
    for name, mask in masks.items():
        out[mask] = float(load_priors()[label][name].get(key, 0.0))
    return out


def _sawtooth_fourier(
    n: int, rng: np.random.Generator, r21: np.ndarray, r31: np.ndarray, phi21: np.ndarray,
    phi31: np.ndarray, decay: float = 0.68,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, K) relative amplitudes R_k1 and phases phi_k1 (sine series) of a skewed saw-tooth.

    Higher harmonics follow the saw-tooth progression phi_k1 ~ (k-1) phi21 and a geometric
    decay of R_k1 (what the Fourier decomposition of RRab and Cepheid curves shows, Simon &
    Lee 1981), with small jitter.
    """
    k = np.arange(1, N_HARMONICS + 1)
    ratios = np.empty((n, N_HARMONICS))
    ratios[:, 0], ratios[:, 1], ratios[:, 2] = 1.0, r21, r31
    ratios[:, 3:] = r31[:, None] * decay ** (k[3:] - 3)[None, :]
    phases = np.empty((n, N_HARMONICS))
    phases[:, 0], phases[:, 1], phases[:, 2] = 0.0, phi21, phi31
    slope = phi31 - phi21
    phases[:, 3:] = phi31[:, None] + slope[:, None] * (k[3:] - 3)[None, :]
    phases[:, 3:] += rng.normal(0.0, 0.1, (n, N_HARMONICS - 3))
    return np.clip(ratios, 0.0, None), phases


def _base(n: int) -> Population:
    return {
        "fourier_r": np.zeros((n, N_HARMONICS)),
        "fourier_phi": np.zeros((n, N_HARMONICS)),
        "red_flattening": np.zeros(n),  # 1: shape flattens in red bands (shapes.py)
        "mode_freq": np.zeros((n, MAX_EXTRA_MODES)),
        "mode_amp": np.zeros((n, MAX_EXTRA_MODES)),
        "mode_phase": np.zeros((n, MAX_EXTRA_MODES)),
    }


def draw_rrlyr(n: int, rng: np.random.Generator) -> Population:
    """RRab and RRc: Teff, [Fe/H], mass drawn; M_G, L, R, P and logg follow."""
    subclass, masks = _subclass_draw("RRLYR", n, rng)
    teff = _per_subclass("RRLYR", "teff", masks, n, rng)
    feh = _per_subclass("RRLYR", "feh", masks, n, rng)
    mass = _per_subclass("RRLYR", "mass", masks, n, rng)
    scatter = _per_subclass_value("RRLYR", "abs_gmag_scatter", masks, n)
    abs_gmag = 1.11 + 0.32 * feh + rng.normal(0.0, 1.0, n) * scatter
    lum = ph.luminosity_from_abs_gmag(abs_gmag, teff)
    log_p0 = 11.497 + 0.84 * np.log10(lum) - 0.68 * np.log10(mass) - 3.48 * np.log10(teff)
    overtone = masks["RRc"]
    period = 10.0**log_p0 * np.where(overtone, 0.745, 1.0)
    radius = ph.radius_from_luminosity(lum, teff)
    # Bailey diagram: RRab amplitude falls with period (OGLE LMC locus, Soszyński et al. 2009).
    amp = np.where(
        overtone,
        np.clip(rng.normal(0.45, 0.08, n), 0.2, 0.7),
        np.clip(1.15 - 2.2 * (period - 0.45) + rng.normal(0.0, 0.12, n), 0.3, 1.4),
    )
    phi31_ab = (feh + 5.038 + 5.394 * period) / 1.345 + rng.normal(0.0, 0.08, n)
    phi21_ab = phi31_ab / 2.0 + rng.normal(0.0, 0.08, n)
    phi21_c = rng.normal(3.2, 0.25, n)
    r21 = np.where(overtone, np.clip(rng.normal(0.12, 0.05, n), 0.02, 0.3),
                   np.clip(rng.normal(0.48, 0.04, n), 0.3, 0.6))
    r31 = np.where(overtone, np.clip(rng.normal(0.06, 0.03, n), 0.0, 0.15),
                   np.clip(rng.normal(0.33, 0.04, n), 0.2, 0.45))
    phi21 = np.where(overtone, phi21_c, phi21_ab)
    phi31 = np.where(overtone, 2.0 * phi21_c + rng.normal(0.0, 0.3, n), phi31_ab)
    pop = _base(n)
    pop["fourier_r"], pop["fourier_phi"] = _sawtooth_fourier(n, rng, r21, r31, phi21, phi31)
    pop["fourier_r"][overtone, 3:] *= 0.3
    pop["red_flattening"][:] = 1.0
    pop.update(subclass=subclass, period=period, teff=teff, feh=feh, abs_gmag=abs_gmag,
               radius=radius, mass=mass, logg=ph.log_gravity(mass, radius), amplitude_ref=amp)
    return pop


def draw_cep(n: int, rng: np.random.Generator) -> Population:
    """Fundamental and first-overtone classical Cepheids on the Leavitt and P-R relations."""
    subclass, masks = _subclass_draw("CEP", n, rng)
    log_p = _per_subclass("CEP", "log_period", masks, n, rng)
    feh = _per_subclass("CEP", "feh", masks, n, rng)
    amp = _per_subclass("CEP", "amplitude_v", masks, n, rng)
    overtone = masks["First-overtone"]
    log_pf = log_p + np.where(overtone, -np.log10(0.72), 0.0)
    abs_imag = -1.883 - 2.962 * log_pf + rng.normal(0.0, 1.0, n) * _per_subclass_value(
        "CEP", "pl_scatter", masks, n)
    log_r = 1.146 + 0.680 * log_pf + rng.normal(0.0, 1.0, n) * _per_subclass_value(
        "CEP", "pr_scatter", masks, n)
    radius = 10.0**log_r
    teff = np.full(n, 6000.0)
    for _ in range(6):  # fixed point: colour and BC depend weakly on Teff
        abs_gmag = abs_imag - ph.colour_minus_g("I", teff)
        lum = ph.luminosity_from_abs_gmag(abs_gmag, teff)
        teff = ph.teff_from_luminosity_radius(lum, radius)
    # close the loop exactly: L from R and Teff (Stefan-Boltzmann), M_G from L and BC_G
    lum = radius**2 * (teff / ph.TEFF_SUN) ** 4
    abs_gmag = ph.abs_gmag_from_luminosity(lum, teff)
    mass = 10.0 ** ((np.log10(lum) - 0.90) / 3.35)
    # Shapes: near-sinusoid for 1O; for F the measured Hertzsprung progression (CEP_F_*),
    # with the scatter seen around it.
    def along_progression(nodes: np.ndarray, scatter: float) -> np.ndarray:
        return np.interp(log_pf, CEP_F_LOG_P, nodes) + rng.normal(0.0, scatter, n)

    r21 = np.where(overtone, np.clip(rng.normal(0.12, 0.05, n), 0.02, 0.3),
                   np.clip(along_progression(CEP_F_R21, 0.05), 0.03, 0.6))
    r31 = np.where(overtone, np.clip(rng.normal(0.04, 0.02, n), 0.0, 0.1),
                   np.clip(along_progression(CEP_F_R31, 0.04), 0.02, 0.4))
    phi21 = np.where(overtone, rng.normal(3.3, 0.2, n), along_progression(CEP_F_PHI21, 0.1))
    phi31 = np.where(overtone, 2.0 * phi21 + rng.normal(0.0, 0.15, n),
                     along_progression(CEP_F_PHI31, 0.15))
    pop = _base(n)
    pop["fourier_r"], pop["fourier_phi"] = _sawtooth_fourier(n, rng, r21, r31, phi21, phi31)
    pop["fourier_r"][overtone, 3:] *= 0.2
    pop.update(subclass=subclass, period=10.0**log_p, teff=teff, feh=feh, abs_gmag=abs_gmag,
               radius=radius, mass=mass, logg=ph.log_gravity(mass, radius), amplitude_ref=amp)
    return pop


def draw_dsct(n: int, rng: np.random.Generator) -> Population:
    """delta Scuti stars: HADS-like single (or double radial) mode, or low-amplitude multimode."""
    subclass, masks = _subclass_draw("DSCT", n, rng)
    log_p = _per_subclass("DSCT", "log_period", masks, n, rng)
    teff = _per_subclass("DSCT", "teff", masks, n, rng)
    feh = _per_subclass("DSCT", "feh", masks, n, rng)
    amp = _per_subclass("DSCT", "amplitude_v", masks, n, rng)
    abs_vmag = -2.89 * log_p - 1.31 + rng.normal(0.0, 1.0, n) * _per_subclass_value(
        "DSCT", "pl_scatter", masks, n)
    abs_gmag = abs_vmag - ph.colour_minus_g("V", teff)
    lum = ph.luminosity_from_abs_gmag(abs_gmag, teff)
    radius = ph.radius_from_luminosity(lum, teff)
    mass = lum**0.25 * rng.uniform(0.95, 1.05, n)
    multi = masks["Multi-mode"]
    pop = _base(n)
    r21 = np.where(multi, 0.05, np.clip(rng.normal(0.30, 0.06, n), 0.1, 0.5))
    r31 = np.where(multi, 0.0, np.clip(rng.normal(0.12, 0.04, n), 0.0, 0.25))
    phi21 = rng.normal(2.6, 0.15, n)
    pop["fourier_r"], pop["fourier_phi"] = _sawtooth_fourier(
        n, rng, r21, r31, phi21, 2.0 * phi21, decay=0.5)
    pop["fourier_r"][multi, 2:] = 0.0
    # Extra modes: HADS sometimes carry the first overtone (f1/f0 = 1/0.773); multimode
    # low-amplitude stars carry 1-4 non-radial modes within a factor ~1.5 of the dominant one.
    n_low, n_high = load_priors()["DSCT"]["Multi-mode"]["n_modes"]
    n_extra = np.where(multi, rng.integers(n_low - 1, n_high, n), rng.random(n) < 0.3)
    ratio = rng.uniform(0.7, 1.45, (n, MAX_EXTRA_MODES))
    ratio = np.where(np.abs(ratio - 1.0) < 0.05, ratio + 0.1, ratio)
    ratio[~multi, 0] = 1.0 / 0.773
    slot = np.arange(MAX_EXTRA_MODES)[None, :] < n_extra[:, None]
    pop["mode_freq"] = np.where(slot, ratio, 0.0)
    pop["mode_amp"] = np.where(slot, rng.uniform(0.15, 0.7, (n, MAX_EXTRA_MODES)), 0.0)
    pop["mode_phase"] = rng.uniform(0.0, 2 * np.pi, (n, MAX_EXTRA_MODES))
    pop.update(subclass=subclass, period=10.0**log_p, teff=teff, feh=feh, abs_gmag=abs_gmag,
               radius=radius, mass=mass, logg=ph.log_gravity(mass, radius), amplitude_ref=amp)
    return pop


def _main_sequence(mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, L) in solar units on the zero-age-ish main sequence."""
    radius = np.where(mass < 1.66, 1.06 * mass**0.945, 1.33 * mass**0.555)
    lum = np.where(mass < 2.0, mass**4.0, 1.5 * mass**3.5)
    return radius, lum


def draw_ecl(n: int, rng: np.random.Generator) -> Population:
    """Detached, semi-detached (Algol) and contact (W UMa) binaries; invalid geometry redrawn."""
    out: list[Population] = []
    have = 0
    while have < n:
        pop = _draw_ecl_once(max(2 * (n - have), 16), rng)
        keep = pop.pop("valid")
        out.append({k: v[keep] for k, v in pop.items()})
        have += int(keep.sum())
    return {k: np.concatenate([p[k] for p in out])[:n] for k in out[0]}


def _draw_ecl_once(n: int, rng: np.random.Generator) -> Population:
    subclass, masks = _subclass_draw("ECL", n, rng)
    m1 = _per_subclass("ECL", "mass1", masks, n, rng)
    q = _per_subclass("ECL", "q", masks, n, rng)
    period = _per_subclass("ECL", "period", masks, n, rng)
    feh = _per_subclass("ECL", "feh", masks, n, rng)
    m2 = q * m1
    a = ph.semi_major_axis(m1 + m2, period)
    rl1, rl2 = ph.roche_lobe_fraction(1.0 / q), ph.roche_lobe_fraction(q)
    r1, l1 = _main_sequence(m1)
    r2, l2 = _main_sequence(m2)
    t1, t2 = ph.teff_from_luminosity_radius(l1, r1), ph.teff_from_luminosity_radius(l2, r2)
    det, semi, contact = masks["detached"], masks["semi-detached"], masks["contact"]
    # Detached: both stars somewhat evolved inside their lobes (L kept, radius grows, T drops).
    evolution = _per_subclass("ECL", "evolution", masks, n, rng)
    grow1 = np.where(det, evolution, 1.0)
    grow2 = np.where(det, 1.0 + (evolution - 1.0) * rng.random(n), 1.0)
    r1, r2 = r1 * grow1, r2 * grow2
    t1, t2 = t1 / np.sqrt(grow1), t2 / np.sqrt(grow2)
    # Semi-detached: the cool, less massive secondary fills its Roche lobe.
    # Contact: both fill (or overfill) their lobes and share a common temperature.
    t_ratio = _per_subclass("ECL", "secondary_teff_ratio", masks, n, rng)
    fill = _per_subclass("ECL", "fillout", masks, n, rng)
    r2 = np.where(semi, rl2 * a, r2)
    r1 = np.where(contact, fill * rl1 * a, r1)
    r2 = np.where(contact, fill * rl2 * a, r2)
    t2 = np.where(semi | contact, t1 * t_ratio, t2)
    valid = np.where(det, (r1 < 0.8 * rl1 * a) & (r2 < 0.8 * rl2 * a), True)
    valid &= np.where(semi, r1 < 0.8 * rl1 * a, True)
    valid &= (t1 > 2500) & (t2 > 2300)
    lum1 = r1**2 * (t1 / ph.TEFF_SUN) ** 4
    lum2 = r2**2 * (t2 / ph.TEFF_SUN) ** 4
    g1 = ph.abs_gmag_from_luminosity(lum1, t1)
    g2 = ph.abs_gmag_from_luminosity(lum2, t2)
    abs_gmag = -2.5 * np.log10(10 ** (-0.4 * g1) + 10 ** (-0.4 * g2))
    # Eclipses seen only when cos i < (R1 + R2) / a: draw i from that (geometric) selection.
    cos_max = np.minimum(0.95 * (r1 + r2) / a, 1.0)
    incl = np.arccos(rng.uniform(0.0, 1.0, n) * cos_max)
    pop = _base(n)
    pop.update(subclass=subclass, period=period, teff=t1, feh=feh, abs_gmag=abs_gmag,
               radius=r1, mass=m1, logg=ph.log_gravity(m1, r1), valid=valid,
               frac_r1=r1 / a, frac_r2=r2 / a, teff2=t2, incl=incl, q=q,
               amplitude_ref=np.full(n, np.nan))
    return pop


def draw_lpv(n: int, rng: np.random.Generator) -> Population:
    """Miras (sequence C) and semiregulars (sequence C'): Whitelock PL, cool giants."""
    subclass, masks = _subclass_draw("LPV", n, rng)
    log_p = _per_subclass("LPV", "log_period", masks, n, rng)
    feh = _per_subclass("LPV", "feh", masks, n, rng)
    mass = _per_subclass("LPV", "mass", masks, n, rng)
    amp = _per_subclass("LPV", "amplitude_i", masks, n, rng)
    mira = masks["Mira"]
    teff = np.where(mira, np.clip(3300.0 - 800.0 * (log_p - 2.3) + rng.normal(0, 100, n),
                                  2400.0, 3500.0),
                    _per_subclass("LPV", "teff", masks, n, rng))
    log_p_c = log_p - np.where(mira, 0.0, np.log10(0.53))  # C' -> equivalent C period
    abs_kmag = -3.51 * (log_p_c - 2.38) - 7.15 + rng.normal(0.0, 0.15, n)
    mbol = abs_kmag + 2.8 + rng.normal(0.0, 0.1, n)
    lum = 10.0 ** (0.4 * (ph.MBOL_SUN - mbol))
    radius = ph.radius_from_luminosity(lum, teff)
    pop = _base(n)
    # Miras: nearly sinusoidal with a faster rise (small second harmonic).
    r21 = np.clip(rng.normal(0.12, 0.05, n), 0.0, 0.3)
    pop["fourier_r"][:, 0], pop["fourier_r"][:, 1] = 1.0, r21
    pop["fourier_phi"][:, 1] = rng.normal(2.6, 0.2, n)
    # Semiregulars: a second mode near twice the period (sequences C' and C, Wood 2000).
    pop["mode_freq"][:, 0] = np.where(mira, 0.0, 1.0 / rng.uniform(1.75, 2.05, n))
    pop["mode_amp"][:, 0] = np.where(mira, 0.0, rng.uniform(0.2, 0.8, n))
    pop["mode_phase"][:, 0] = rng.uniform(0.0, 2 * np.pi, n)
    pop["phase_diffusion"] = _per_subclass_value("LPV", "phase_diffusion", masks, n)
    pop["amplitude_wander"] = _per_subclass_value("LPV", "amplitude_wander", masks, n)
    pop.update(subclass=subclass, period=10.0**log_p, teff=teff, feh=feh,
               abs_gmag=ph.abs_gmag_from_luminosity(lum, teff), radius=radius, mass=mass,
               logg=ph.log_gravity(mass, radius), amplitude_ref=amp)
    return pop


DRAWERS: dict[str, Callable[[int, np.random.Generator], Population]] = {
    "CEP": draw_cep, "DSCT": draw_dsct, "ECL": draw_ecl, "LPV": draw_lpv, "RRLYR": draw_rrlyr,
}


def draw_population(label: str, n: int, rng: np.random.Generator) -> Population:
    """n stars of class `label` with mutually consistent physical parameters."""
    return DRAWERS[label](n, rng)


def band_abs_mag(label: str, pop: Population, band: str) -> np.ndarray:
    """Mean absolute magnitude of each star (both components for binaries) in `band`."""
    if label != "ECL":
        return ph.band_abs_mag(band, pop["abs_gmag"], pop["teff"])
    lam = ph.BAND_WAVELENGTH[band]
    s1, s2 = ph.planck_ratio(lam, pop["teff"]), ph.planck_ratio(lam, pop["teff2"])
    share1 = pop["frac_r1"] ** 2 * s1 / (pop["frac_r1"] ** 2 * s1 + pop["frac_r2"] ** 2 * s2)
    sg1 = ph.planck_ratio(ph.BAND_WAVELENGTH["G"], pop["teff"])
    sg2 = ph.planck_ratio(ph.BAND_WAVELENGTH["G"], pop["teff2"])
    share1_g = pop["frac_r1"] ** 2 * sg1 / (pop["frac_r1"] ** 2 * sg1 + pop["frac_r2"] ** 2 * sg2)
    # primary's own band magnitude, then the system's from the primary's flux share
    g1 = pop["abs_gmag"] - 2.5 * np.log10(share1_g)
    return ph.band_abs_mag(band, g1, pop["teff"]) + 2.5 * np.log10(share1)
