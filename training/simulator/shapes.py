"""Light-curve shapes: magnitude offsets from the mean at given times, for many stars at once.

All functions take flat arrays `t` (times, days) and `seg` (which star each time belongs to)
and gather per-star parameters with `seg`, so one numpy expression renders every point of a
whole chunk of stars; the only Python loops run over harmonics or modes (a handful).

- Pulsators (RRLYR, CEP, DSCT): Fourier series m = sum_k A R_k1 sin(2 pi k phi + phi_k1)
  (the decomposition of Simon & Lee 1981), plus extra DSCT modes; Cepheid Fourier
  parameters follow the measured Hertzsprung progression (population.CEP_F_*). The
  amplitude is set in V and scaled to each band by the black-body temperature sensitivity
  (`physics.pulsation_amplitude_ratio`).
- ECL: two uniform stellar discs on a circular orbit; flux lost to the exact circle-overlap
  area times the eclipsed star's surface brightness in the band; ellipsoidal variation of
  each star ~ 1.5 q (R/a)^3 sin^2 i (Morris 1985). No limb darkening or reflection.
- LPV: a Mira-like Fourier curve (and a second mode for semiregulars) whose phase diffuses
  (random walk) and whose amplitude and mean level wander (Ornstein-Uhlenbeck), evaluated on
  per-star nodes every P/4 and interpolated.
"""

from __future__ import annotations

import numpy as np

from training.simulator import physics as ph
from training.simulator.population import Population

TWO_PI = 2.0 * np.pi
#: Band amplitude ratios A_band / A_I for Miras (cool molecular atmospheres make the blue
#: amplitude 2-3x the red one; approximate, from Mira V and I amplitudes in OGLE/ASAS).
LPV_AMPLITUDE_RATIO = {
    "u": 2.6, "g": 2.4, "V": 2.2, "G": 1.6, "r": 1.8, "i": 1.15, "I": 1.0, "z": 0.9, "y": 0.75,
}


def fourier_shape(phase: np.ndarray, ratios: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """sum_k R_k sin(2 pi k phase + phi_k); `ratios`/`phases` are per point, shape (N, K)."""
    out = np.zeros_like(phase)
    for k in range(ratios.shape[1]):
        out += ratios[:, k] * np.sin(TWO_PI * (k + 1) * phase + phases[:, k])
    return out


#: RR Lyrae light curves are less lopsided in redder bands: harmonic k is multiplied by
#: d^(k-1). Fitted so that the median magnitude skewness of simulated RRab matches the 379
#: SDSS Stripe 82 RRab in ../shared/data (g -0.74, r -0.59, i -0.41, against -0.92 undamped);
#: u, V, G, z, y are interpolated or extrapolated by wavelength, I taken as i.
RR_HARMONIC_DAMPING = {
    "u": 0.95, "g": 0.9, "V": 0.85, "G": 0.82, "r": 0.8, "i": 0.6, "I": 0.6, "z": 0.55, "y": 0.5,
}


def band_fourier_ratios(pop: Population, band: str) -> np.ndarray:
    """(n, K) harmonic amplitude ratios in `band` (flattened towards the red for RR Lyrae)."""
    ratios = pop["fourier_r"]
    damping = 1.0 - pop["red_flattening"] * (1.0 - RR_HARMONIC_DAMPING.get(band, 1.0))
    return ratios * damping[:, None] ** np.arange(ratios.shape[1])[None, :]


def _shape_zero_and_range(
    ratios: np.ndarray, phases: np.ndarray, n_grid: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Per star: phase-averaged magnitude and peak-to-peak of the unnormalised shape."""
    n = ratios.shape[0]
    grid = np.tile(np.linspace(0.0, 1.0, n_grid, endpoint=False), n)
    seg = np.repeat(np.arange(n), n_grid)
    shape = fourier_shape(grid, ratios[seg], phases[seg]).reshape(n, -1)
    # the phase-averaged magnitude is the zero point, so the star's mean magnitude is the one
    # the PL relation gives (magnitude and intensity means differ by < 0.03 mag here)
    return shape.mean(axis=1), np.ptp(shape, axis=1)


def render_pulsator(
    pop: Population, seg: np.ndarray, t: np.ndarray, band: str
) -> np.ndarray:
    """Magnitude offsets of RR Lyrae, Cepheids and delta Scuti stars."""
    period = pop["period"][seg]
    phase = (t - pop["epoch"][seg]) / period
    ratios = band_fourier_ratios(pop, band)
    zero, extent = _shape_zero_and_range(ratios, pop["fourier_phi"])
    shape = fourier_shape(phase, ratios[seg], pop["fourier_phi"][seg])
    main = (shape - zero[seg]) / extent[seg]
    cycles = t - pop["epoch"][seg]
    for j in range(pop["mode_amp"].shape[1]):
        amp = pop["mode_amp"][seg, j]
        if np.any(amp > 0):
            freq = pop["mode_freq"][seg, j] / period
            main = main + 0.5 * amp * np.sin(TWO_PI * freq * cycles + pop["mode_phase"][seg, j])
    scale = pop["amplitude_ref"][seg] * ph.pulsation_amplitude_ratio(band, pop["teff"][seg])
    return scale * main


def circle_overlap(d: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Area of the intersection of two discs of radii r1, r2 whose centres are d apart."""
    d = np.maximum(d, 1e-12)
    small = np.minimum(r1, r2)
    inside = d <= np.abs(r1 - r2)
    apart = d >= r1 + r2
    c1 = np.clip((d**2 + r1**2 - r2**2) / (2 * d * r1), -1.0, 1.0)
    c2 = np.clip((d**2 + r2**2 - r1**2) / (2 * d * r2), -1.0, 1.0)
    k = (-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2)
    lens = r1**2 * np.arccos(c1) + r2**2 * np.arccos(c2) - 0.5 * np.sqrt(np.maximum(k, 0.0))
    return np.where(apart, 0.0, np.where(inside, np.pi * small**2, lens))


def render_ecl(pop: Population, seg: np.ndarray, t: np.ndarray, band: str) -> np.ndarray:
    """Magnitude offsets of an eclipsing binary (primary eclipse at phase 0)."""
    phase = (t - pop["epoch"][seg]) / pop["period"][seg]
    angle = TWO_PI * phase
    incl = pop["incl"][seg]
    r1, r2 = pop["frac_r1"][seg], pop["frac_r2"][seg]
    lam = ph.BAND_WAVELENGTH[band]
    s1 = ph.planck_ratio(lam, pop["teff"][seg])
    s2 = ph.planck_ratio(lam, pop["teff2"][seg])
    sep = np.sqrt(np.sin(angle) ** 2 + (np.cos(incl) * np.cos(angle)) ** 2)
    overlap = circle_overlap(sep, r1, r2)
    secondary_in_front = np.cos(angle) > 0
    lost = overlap * np.where(secondary_in_front, s1, s2)
    q = pop["q"][seg]
    ell = 1.5 * np.sin(incl) ** 2 * np.cos(2 * angle)
    f1 = np.pi * r1**2 * s1 * (1.0 - ell * q * r1**3)
    f2 = np.pi * r2**2 * s2 * (1.0 - ell * r2**3 / q)
    full = np.pi * (r1**2 * s1 + r2**2 * s2)
    return -2.5 * np.log10(np.maximum(f1 + f2 - lost, 1e-6 * full) / full)


def prepare_lpv(
    pop: Population, t_first: np.ndarray, t_last: np.ndarray, rng: np.random.Generator
) -> None:
    """Draw the wandering phase, amplitude and mean level on nodes every P/4 per star."""
    period = pop["period"]
    step = period / 4.0
    start = t_first - step
    n_nodes = int(np.max(np.ceil((t_last - start) / step))) + 3
    n = period.size
    # phase: random walk with variance diffusion^2 per cycle (in cycles)
    walk = rng.normal(0.0, 1.0, (n, n_nodes)) * (pop["phase_diffusion"] * np.sqrt(0.25))[:, None]
    pop["lpv_phase"] = np.cumsum(walk, axis=1)
    pop["lpv_amp"] = _ornstein_uhlenbeck(rng, n, n_nodes, corr_nodes=12.0)
    pop["lpv_level"] = _ornstein_uhlenbeck(rng, n, n_nodes, corr_nodes=20.0)
    pop["lpv_start"], pop["lpv_step"] = start, step


def _ornstein_uhlenbeck(
    rng: np.random.Generator, n: int, n_nodes: int, corr_nodes: float
) -> np.ndarray:
    """Unit-variance OU process sampled on nodes, correlation length `corr_nodes` nodes."""
    rho = np.exp(-1.0 / corr_nodes)
    noise = rng.normal(0.0, np.sqrt(1 - rho**2), (n, n_nodes))
    out = np.empty((n, n_nodes))
    out[:, 0] = rng.normal(0.0, 1.0, n)
    for k in range(1, n_nodes):  # a loop over nodes (~200), vectorised over stars
        out[:, k] = rho * out[:, k - 1] + noise[:, k]
    return out


def _interp_nodes(nodes: np.ndarray, pop: Population, seg: np.ndarray, t: np.ndarray) -> np.ndarray:
    x = np.clip((t - pop["lpv_start"][seg]) / pop["lpv_step"][seg], 0.0, nodes.shape[1] - 1.001)
    i = np.floor(x).astype(np.int64)
    w = x - i
    return nodes[seg, i] * (1.0 - w) + nodes[seg, i + 1] * w


def render_lpv(pop: Population, seg: np.ndarray, t: np.ndarray, band: str) -> np.ndarray:
    """Magnitude offsets of Miras and semiregulars with cycle-to-cycle irregularity."""
    period = pop["period"][seg]
    cycles = (t - pop["epoch"][seg]) / period
    phase = cycles + _interp_nodes(pop["lpv_phase"], pop, seg, t)
    shape = fourier_shape(phase, pop["fourier_r"][seg][:, :2], pop["fourier_phi"][seg][:, :2])
    shape /= 2.0 * (1.0 + pop["fourier_r"][seg, 1])  # ~unit peak-to-peak
    second = pop["mode_amp"][seg, 0] * 0.5 * np.sin(
        TWO_PI * (cycles * pop["mode_freq"][seg, 0] + 0.3 * _interp_nodes(
            pop["lpv_phase"], pop, seg, t)) + pop["mode_phase"][seg, 0])
    wander = pop["amplitude_wander"][seg]
    amp = pop["amplitude_ref"][seg] * np.exp(wander * _interp_nodes(pop["lpv_amp"], pop, seg, t))
    level = 0.3 * wander * pop["amplitude_ref"][seg] * _interp_nodes(pop["lpv_level"], pop, seg, t)
    return LPV_AMPLITUDE_RATIO[band] * (amp * (shape + second) + level)


def render(label: str, pop: Population, seg: np.ndarray, t: np.ndarray, band: str) -> np.ndarray:
    """Noise-free magnitude offsets from each star's mean magnitude in `band`."""
    if label == "ECL":
        return render_ecl(pop, seg, t, band)
    if label == "LPV":
        return render_lpv(pop, seg, t, band)
    return render_pulsator(pop, seg, t, band)
