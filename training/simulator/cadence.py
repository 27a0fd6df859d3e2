"""Survey cadences, distances, extinction and photometric noise of the simulator.

- OGLE-like: I band, LMC (mu = 18.477 +- depth, Pietrzyński et al. 2019), 5.5-8.5 seasons
  of ~240 nights, 5-sigma depth I ~ 21 (Udalski et al. 2008, 2015), about 250-800 points.
  At most one visit per night, except that `OGLE_REPEAT_PROBABILITY` of the nights drawn
  twice keep their second visit. The OGLE-III LMC Cepheids in ../shared/data have a median
  of 384 points, a median Δt of 3 d and 9 % of Δt below 0.5 d; drawing that many points
  uniformly over the seasons gives a quarter of Δt below 0.5 d, which a classifier trained
  on it learns to rely on and then misses on the real survey.
- LSST-like: ugrizy, 1-10 years of seasons, per-band visit counts scaled from the 10-year
  WFD baseline (u 56, g 80, r 184, i 184, z 160, y 160; Ivezić et al. 2019, Table 1), single
  visit depths u 23.9, g 25.0, r 24.7, i 24.0, z 23.3, y 22.1; Galactic distances.
- sparse: Gaia-like G band, 8-35 epochs, each a pair of transits 106.5 min apart
  (preceding/following field of view), over 1-4 years.
Noise: sigma^2 = floor^2 + (0.04 - gamma) x + gamma x^2, x = 10^(0.4 (m - m5)) with
gamma = 0.039 (sky + source noise, Ivezić et al. 2019, eq. 5), m5 jittered per visit for
seeing and sky. Extinction ratios A_band / A_V for R_V = 3.1 (Cardelli et al. 1989;
Schlafly & Finkbeiner 2011 for ugrizy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from broker_plugin.errors import UserError

EXTINCTION_RATIO = {
    "u": 1.57, "g": 1.18, "r": 0.86, "i": 0.66, "z": 0.49, "y": 0.42, "V": 1.0, "G": 0.84,
    "I": 0.59,
}
GAMMA = 0.039


class CadenceError(UserError, ValueError):
    """An unknown cadence name."""


@dataclass(frozen=True)
class Cadence:
    """How a survey samples time, where its stars are, and how noisy it is."""

    name: str
    survey: str
    bands: tuple[str, ...]
    selection_band: str
    bright_limit: float  # saturation [mag] in the selection band
    faint_limit: float  # detection limit [mag] of the mean magnitude
    distmod_range: tuple[float, float]  # mu drawn uniformly inside (after the mag window)
    mean_extinction_v: float  # A_V ~ exponential with this mean (LMC: normal around it)
    time_origin: float
    m5: dict[str, float] = field(default_factory=dict)
    floor: float = 0.003

    def extinction_v(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """A_V per star."""
        if self.name == "ogle":
            return np.clip(rng.normal(self.mean_extinction_v, 0.08, n), 0.0, None)
        return rng.exponential(self.mean_extinction_v, n)

    def sample_times(
        self, n: int, rng: np.random.Generator
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """band -> (flat times, points per star), times sorted within each star."""
        if self.name == "ogle":
            years = rng.uniform(5.5, 8.5, n)
            counts = np.exp(rng.uniform(np.log(260), np.log(900), n)).astype(np.int64)
            return {"I": _seasonal(rng, counts, years, 240.0, self.time_origin,
                                   repeat_probability=OGLE_REPEAT_PROBABILITY)}
        if self.name == "lsst":
            years = rng.uniform(1.0, 10.0, n)
            out = {}
            for band, ten_year in LSST_VISITS.items():
                counts = np.maximum(rng.poisson(ten_year * years / 10.0), 3)
                out[band] = _seasonal(rng, counts, years, 200.0, self.time_origin)
            return out
        years = rng.uniform(1.0, 4.0, n)
        pairs = rng.integers(8, 36, n)
        t, _ = _seasonal(rng, pairs, years, 365.0, self.time_origin, night=False)
        t = np.repeat(t, 2)
        t[1::2] += 106.5 / 1440.0
        return {"G": (t, 2 * pairs)}

    def noise(
        self, band: str, mag: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Per-point 1-sigma errors for true magnitudes `mag` (m5 jittered if rng given)."""
        m5 = self.m5[band] + (0.0 if rng is None else rng.normal(0.0, 0.25, mag.size))
        gamma = 0.037 if band == "u" else GAMMA
        x = 10.0 ** (0.4 * (mag - m5))
        return np.sqrt(self.floor**2 + (0.04 - gamma) * x + gamma * x**2)

    def point_noise(
        self, times: dict, band: str, mag: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Errors of the points `sample_times` drew in `band`, at true magnitudes `mag`
        (cadences built from real surveys' epochs override it: training.cadence_transfer)."""
        return self.noise(band, mag, rng)

    def star_meta(self, times: dict, n: int) -> list[dict]:
        """Extra manifest metadata per star from what `sample_times` drew (none here)."""
        return [{} for _ in range(n)]


#: Share of same-night second visits kept in OGLE-like curves (the rest are dropped).
OGLE_REPEAT_PROBABILITY = 0.35
LSST_VISITS = {"u": 56, "g": 80, "r": 184, "i": 184, "z": 160, "y": 160}

CADENCES: dict[str, Cadence] = {
    "ogle": Cadence("ogle", "sim-ogle", ("I",), "I", 11.5, 20.5, (18.40, 18.55), 0.25,
                    2100.0, {"I": 21.0}, floor=0.004),
    "lsst": Cadence("lsst", "sim-lsst", ("u", "g", "r", "i", "z", "y"), "r", 16.5, 23.5,
                    (8.0, 20.5), 0.3, 60800.0,
                    {"u": 23.9, "g": 25.0, "r": 24.7, "i": 24.0, "z": 23.3, "y": 22.1},
                    floor=0.005),
    "sparse": Cadence("sparse", "sim-sparse", ("G",), "G", 8.0, 20.0, (6.0, 18.0), 0.4,
                      56900.0, {"G": 21.5}, floor=0.002),
}


def get_cadence(name: str) -> Cadence:
    """The named cadence, or a one-line error listing the choices."""
    try:
        return CADENCES[name]
    except KeyError:
        raise CadenceError(
            f"unknown cadence {name!r}; choose one of {', '.join(CADENCES)}"
        ) from None


def _seasonal(
    rng: np.random.Generator, counts: np.ndarray, years: np.ndarray, season_days: float,
    origin: float, night: bool = True, repeat_probability: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Flat sorted times and points per star, spread over whole seasons of `season_days`.

    Night times cluster around local midnight (+-0.1 d); seasons shift a little per star.
    A visit falling on a night that already has one is kept with `repeat_probability`
    (1 keeps every visit, so a star may get fewer than `counts` points otherwise).
    """
    n = counts.size
    seg = np.repeat(np.arange(n), counts)
    # observing time available: full seasons plus a (possibly short) last one; points are
    # uniform over it, so a short last season gets few points, not a crowded burst
    full = np.floor(years).astype(np.int64)
    last = np.minimum(season_days, (years - full) * 365.25)
    total = full * season_days + last
    u = rng.random(seg.size) * total[seg]
    season = np.floor(u / season_days)
    day = u - season * season_days
    if night:
        day = np.floor(day) + rng.normal(0.0, 0.07, seg.size)
    offset = rng.uniform(0.0, 40.0, n)
    t = origin + offset[seg] + 365.25 * season + day
    order = np.lexsort((t, seg))
    t, seg = t[order], seg[order]
    if night and repeat_probability < 1.0:
        # nights are >= ~0.6 d apart (jitter 0.07 d), so a gap under 0.5 d is the same night
        repeat = np.r_[False, (np.diff(t) < 0.5) & (np.diff(seg) == 0)]
        keep = ~repeat | (rng.random(t.size) < repeat_probability)
        t, seg = t[keep], seg[keep]
        counts = np.bincount(seg, minlength=n)
    return t, counts
