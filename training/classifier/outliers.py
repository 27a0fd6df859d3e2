"""Simulated stars of no class of ours, for the unknown forest's "other" class.

Why: the catalogued other-class stars of the shared surveys are periodic variables (RS CVn,
ellipsoidals, β Cephei, supergiants…) from two surveys. A live stream also carries what
none of them shows: AGN and quasars (stochastic, red-noise variability; most of the real
LSSTCam objects with long histories are probably AGN) and stars that do not vary beyond
their errors. Both are cheap to simulate faithfully at any survey's cadence: take the
epochs and errors of a real training curve and draw, instead of its magnitudes, a damped
random walk (Kelly et al. 2009: timescale τ, long-term scatter σ) or a constant, plus the
curve's own noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from broker_plugin.lightcurve import LightCurve

#: Damped-random-walk priors: τ [days] and σ [mag], log-uniform over what quasars show.
TAU_DAYS = (5.0, 1000.0)
SIGMA_MAG = (0.05, 0.6)
#: Share of the outliers that are damped random walks (the rest constant).
DRW_SHARE = 0.6
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


def simulated_outliers(templates: Sequence[LightCurve], n: int, seed: int = 0
                       ) -> list[LightCurve]:
    """`n` unlabelled curves (source_class "simulated DRW" or "simulated constant") at the
    epochs, bands and errors of randomly chosen `templates`."""
    if n <= 0 or not templates:
        return []
    rng = np.random.default_rng([seed, 4242])
    out = []
    for k in range(n):
        template = templates[int(rng.integers(len(templates)))]
        order = np.argsort(template.time)
        time, err = template.time[order], template.err[order]
        if rng.random() < DRW_SHARE:
            tau = float(np.exp(rng.uniform(*np.log(TAU_DAYS))))
            sigma = float(np.exp(rng.uniform(*np.log(SIGMA_MAG))))
            signal, kind = damped_random_walk(time, tau, sigma, rng), "simulated DRW"
        else:
            signal, kind = np.zeros(time.size), "simulated constant"
        mag = float(np.nanmedian(template.mag)) + signal + err * rng.standard_normal(time.size)
        out.append(LightCurve(f"outlier-{seed}-{k}", time, mag, err, band=template.band,
                              survey=SURVEY, meta={"source_class": kind}))
    return out
