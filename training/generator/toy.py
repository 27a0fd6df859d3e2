"""Small hand-made periodic light curves with physical parameters, one shape per class.

For tests, the benchmark and demos when neither the simulator nor real data is at hand:
each class has a distinct folded shape (skewed pulsation, sine, eclipses) whose details
depend on the period, so that shapes, parameters and latent codes are related as in life.
"""

from __future__ import annotations

import numpy as np

from broker_plugin.lightcurve import PHYSICAL_PARAMETERS, LightCurve
from training.generator.physical import SUBCLASS_MIDPOINTS, from_model_space, to_model_space

_LOG_PERIOD_SPREAD = 0.15


def _shape(label: str, phase: np.ndarray, skew: np.ndarray) -> np.ndarray:
    """Normalised magnitude (0 bright .. 1 faint) at phase, per class; skew in [0, 1]."""
    if label == "RRLYR":  # fast rise, slow decline
        rise = 0.1 + 0.1 * skew
        return np.where(phase < rise, 1 - phase / rise, (phase - rise) / (1 - rise))
    if label == "CEP":  # smoother, less skewed sawtooth
        rise = 0.3 + 0.1 * skew
        bright = np.where(phase < rise, phase / rise, 1 - (phase - rise) / (1 - rise))
        return 1 - bright
    if label == "ECL":  # two eclipses of different depth
        width = 0.04 + 0.03 * skew
        primary = np.exp(-0.5 * ((phase - 0.25) / width) ** 2)
        secondary = 0.5 * np.exp(-0.5 * ((phase - 0.75) / width) ** 2)
        return primary + secondary
    if label == "DSCT":  # near-sinusoid with a harmonic
        return 0.5 - 0.4 * np.cos(2 * np.pi * phase) - 0.1 * skew * np.cos(4 * np.pi * phase)
    return 0.5 - 0.5 * np.sin(2 * np.pi * phase)  # LPV and anything else


def toy_curves(
    n_per_class: int,
    classes: tuple[str, ...] = ("CEP", "DSCT", "ECL", "LPV", "RRLYR"),
    seed: int = 0,
    n_points: tuple[int, int] = (120, 260),
    baseline: float = 1500.0,
    missing_share: float = 0.1,
) -> list[LightCurve]:
    """`n_per_class` curves per class with params around the class's expert midpoints."""
    rng = np.random.default_rng(seed)
    curves = []
    for label in classes:
        centre = to_model_space(np.array(list(SUBCLASS_MIDPOINTS[label].values()))).mean(axis=0)
        for i in range(n_per_class):
            model = centre + rng.normal(0.0, 1.0, centre.size) * np.array(
                [_LOG_PERIOD_SPREAD, 0.02, 0.1, 0.3, 0.2, 0.05]
            )
            params = from_model_space(model)
            skew = float(np.clip((model[0] - centre[0]) / (4 * _LOG_PERIOD_SPREAD) + 0.5, 0, 1))
            n = int(rng.integers(*n_points))
            time = np.sort(rng.uniform(0.0, baseline, n)) + 2000.0
            phase = np.mod(time / params[0] + rng.uniform(), 1.0)
            amplitude = 0.3 + 0.4 * skew
            err = rng.uniform(0.005, 0.02, n)
            mag = 15.0 + amplitude * _shape(label, phase, np.full(n, skew)) + rng.normal(0, err)
            values = {p: float(v) for p, v in zip(PHYSICAL_PARAMETERS, params, strict=True)}
            for name in PHYSICAL_PARAMETERS[1:]:
                if rng.uniform() < missing_share:
                    del values[name]
            curves.append(
                LightCurve(
                    f"TOY-{label}-{i:04d}", time, mag, err, band="I", label=label,
                    survey="toy", params=values, meta={"amplitude": amplitude},
                )
            )
    return curves
