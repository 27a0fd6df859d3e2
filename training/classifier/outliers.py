"""Simulated stars of no class of ours, for the unknown forest's "other" class.

Why: the catalogued other-class stars of the shared surveys are periodic variables (RS CVn,
ellipsoidals, β Cephei, supergiants…) from two surveys. A live stream also carries what
none of them shows: AGN and quasars (stochastic, red-noise variability; most of the real
LSSTCam objects with long histories are probably AGN) and stars that do not vary beyond
their errors, and the many low-amplitude variables with periods between our classes'
(γ Doradus and slowly pulsating B stars, 0.3–5 d; rotational modulation of spotted and
chemically peculiar stars, up to ~10 d; a few hundredths of a magnitude, several periods at
once), which the other surveys' catalogues show the forest only from Hipparcos, and
spotted stars (RS CVn and BY Dra: rotational modulation of 1–50 d that drifts in amplitude
and phase as spots evolve; the commonest other class in Catalina's catalogue). All are
cheap to simulate faithfully at any survey's cadence: take the epochs and errors of a real
training curve and draw, instead of its magnitudes, a damped random walk (Kelly et al. 2009:
timescale τ, long-term scatter σ), a sum of a few sinusoids, a spotted rotator, or a
constant, plus the curve's own noise. Low-amplitude δ Scuti stars (periods under 0.3 d)
are one of our classes, so the sinusoids stay above 0.3 d.
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
#: Spotted rotators (RS CVn and BY Dra stars): rotation periods [days] and semi-amplitudes
#: [mag], log-uniform; two spot groups whose periods differ by differential rotation (a
#: fraction of the period), each fading in and out over a spot lifetime [days].
SPOTTED_DAYS = (1.0, 50.0)
SPOTTED_MAG = (0.02, 0.3)
DIFFERENTIAL_ROTATION = (0.005, 0.05)
SPOT_LIFETIME_DAYS = (30.0, 300.0)
#: Shares of the outliers: damped random walks, multi-periodic, spotted, the rest constant.
DRW_SHARE = 0.35
MULTIPERIODIC_SHARE = 0.2
SPOTTED_SHARE = 0.25
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


def spotted_rotator(time: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotational modulation by two evolving spot groups (module docstring's priors).

    Spots make RS CVn and BY Dra stars quasi-periodic: the same period for a few rotations,
    but amplitude and phase wander as spots grow and decay and differential rotation
    shears them, which is what sets them apart from a pulsator of the same period.
    """
    period = float(np.exp(rng.uniform(*np.log(SPOTTED_DAYS))))
    amplitude = float(np.exp(rng.uniform(*np.log(SPOTTED_MAG))))
    lifetime = float(np.exp(rng.uniform(*np.log(SPOT_LIFETIME_DAYS))))
    shear = rng.uniform(*DIFFERENTIAL_ROTATION)
    periods = period * np.array([1.0, 1.0 + shear])
    phases = rng.uniform(0.0, 2 * np.pi, 2)
    # Each group's strength: a positive damped random walk in log amplitude (mean 1).
    strength = np.exp(np.stack([damped_random_walk(time, lifetime, 0.5, rng)
                                for _ in range(2)]) - 0.125)
    weights = rng.dirichlet([2.0, 2.0])[:, None]
    # Spots dim the star: the modulation is one-sided (fainter = larger magnitude).
    wave = 0.5 * (1.0 + np.sin(2 * np.pi * time[None, :] / periods[:, None]
                               + phases[:, None]))
    return amplitude * 2 * (weights * strength * wave).sum(axis=0)


def simulated_outliers(templates: Sequence[LightCurve], n: int, seed: int = 0
                       ) -> list[LightCurve]:
    """`n` unlabelled curves (source_class "simulated DRW", "simulated multi-periodic",
    "simulated spotted" or "simulated constant") at the epochs, bands and errors of
    randomly chosen `templates`."""
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
        elif draw < DRW_SHARE + MULTIPERIODIC_SHARE + SPOTTED_SHARE:
            signal, kind = spotted_rotator(time, rng), "simulated spotted"
        else:
            signal, kind = np.zeros(time.size), "simulated constant"
        mag = float(np.nanmedian(template.mag)) + signal + err * rng.standard_normal(time.size)
        out.append(LightCurve(f"outlier-{seed}-{k}", time, mag, err, band=template.band,
                              survey=SURVEY, meta={"source_class": kind}))
    return out
