"""Simulated stars of no class of ours, for the unknown forest's "other" class.

Why: the catalogued other-class stars of the shared surveys are periodic variables (RS CVn,
ellipsoidals, β Cephei, supergiants…) from two surveys. A live stream also carries what
none of them shows: AGN and quasars (stochastic, red-noise variability; most of the real
LSSTCam objects with long histories are probably AGN) and stars that do not vary beyond
their errors, and the many low-amplitude variables with periods between our classes'
(γ Doradus and slowly pulsating B stars, 0.3–5 d; rotational modulation of spotted and
chemically peculiar stars, up to ~10 d; a few hundredths of a magnitude, several periods at
once), which the other surveys' catalogues show the forest only from Hipparcos. All are
cheap to simulate faithfully at any survey's cadence: take the epochs and errors of a real
training curve and draw, instead of its magnitudes, a damped random walk (Kelly et al. 2009:
timescale τ, long-term scatter σ), a sum of a few sinusoids, or a constant, plus the
curve's own noise. Low-amplitude δ Scuti stars (periods under 0.3 d) are one of our
classes, so the sinusoids stay above 0.3 d.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from broker_plugin.lightcurve import LightCurve

#: Damped-random-walk priors: τ [days] and σ [mag], log-uniform over what quasars show.
TAU_DAYS = (5.0, 1000.0)
SIGMA_MAG = (0.05, 0.6)
#: Low-amplitude multi-periodic variables: periods [days] and semi-amplitudes [mag],
#: log-uniform, 2–4 modes each.
MULTIPERIODIC_DAYS = (0.3, 10.0)
MULTIPERIODIC_MAG = (0.005, 0.05)
#: Shares of the outliers: damped random walks, multi-periodic, the rest constant.
DRW_SHARE = 0.45
MULTIPERIODIC_SHARE = 0.25
SURVEY = "sim-outlier"


def damped_random_walk(time: np.ndarray, tau: float, sigma: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Exact DRW (Ornstein–Uhlenbeck) values at sorted `time`, stationary from the start."""
    decay = np.exp(-np.diff(time) / tau)
    kicks = sigma * np.sqrt(1.0 - decay ** 2) * rng.standard_normal(decay.size)
    values = np.empty(time.size)
    values[0] = sigma * rng.standard_normal()
    for i in range(decay.size):
        values[i + 1] = decay[i] * values[i] + kicks[i]
    return values


def multiperiodic(time: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A sum of 2–4 sinusoids at random phases (module docstring's periods and amplitudes)."""
    modes = int(rng.integers(2, 5))
    periods = np.exp(rng.uniform(*np.log(MULTIPERIODIC_DAYS), modes))
    amplitudes = np.exp(rng.uniform(*np.log(MULTIPERIODIC_MAG), modes))
    phases = rng.uniform(0.0, 2 * np.pi, modes)
    return (amplitudes[:, None] * np.sin(2 * np.pi * time[None, :] / periods[:, None]
                                         + phases[:, None])).sum(axis=0)


def simulated_outliers(templates: Sequence[LightCurve], n: int, seed: int = 0
                       ) -> list[LightCurve]:
    """`n` unlabelled curves (source_class "simulated DRW", "simulated multi-periodic" or
    "simulated constant") at the epochs, bands and errors of randomly chosen `templates`."""
    if n <= 0 or not templates:
        return []
    rng = np.random.default_rng([seed, 4242])
    out = []
    for k in range(n):
        template = templates[int(rng.integers(len(templates)))]
        order = np.argsort(template.time)
        time, err = template.time[order], template.err[order]
        draw = rng.random()
        if draw < DRW_SHARE:
            tau = float(np.exp(rng.uniform(*np.log(TAU_DAYS))))
            sigma = float(np.exp(rng.uniform(*np.log(SIGMA_MAG))))
            signal, kind = damped_random_walk(time, tau, sigma, rng), "simulated DRW"
        elif draw < DRW_SHARE + MULTIPERIODIC_SHARE:
            signal, kind = multiperiodic(time, rng), "simulated multi-periodic"
        else:
            signal, kind = np.zeros(time.size), "simulated constant"
        mag = float(np.nanmedian(template.mag)) + signal + err * rng.standard_normal(time.size)
        out.append(LightCurve(f"outlier-{seed}-{k}", time, mag, err, band=template.band,
                              survey=SURVEY, meta={"source_class": kind}))
    return out
