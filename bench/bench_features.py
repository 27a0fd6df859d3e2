"""The batch featuriser against the same rules applied one curve at a time.

Run: python bench/bench_features.py [N_CURVES] [POINTS]
Prints curves/s for both in the same run and the ratio (the ratio is the figure).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from broker_plugin.features import FeatureSettings, featurise_batch
from broker_plugin.lightcurve import LightCurve


def per_curve(curves: list[LightCurve], s: FeatureSettings) -> np.ndarray:
    """Baseline: numpy per curve (sort, unique, quantiles), a Python loop over curves."""
    out = np.zeros((len(curves), 2, s.length), np.float32)
    for i, c in enumerate(curves):
        rows = np.unique(np.column_stack([c.time, c.mag]), axis=0)
        dt, dm = np.diff(rows[:, 0]), np.diff(rows[:, 1])
        lo, hi = np.quantile(dm, [s.dm_quantile_low, s.dm_quantile_high])
        keep = (
            (dm >= lo) & (dm <= hi) & (dt < s.max_dt) & (dt >= np.quantile(dt, s.dt_quantile_low))
        )
        dt, dm = dt[keep][-s.length :], dm[keep][-s.length :]
        out[i, 0, : dt.size], out[i, 1, : dm.size] = dt, dm
    return out


def main(n_curves: int = 10_000, points: int = 300) -> None:
    rng = np.random.default_rng(0)
    print(f"curves={n_curves} points={points}")
    for order in ("time-sorted", "shuffled"):
        times = rng.uniform(0, 3000, (n_curves, points))
        if order == "time-sorted":  # files and alert histories usually are
            times.sort(axis=1)
        curves = [
            LightCurve(str(i), t, rng.normal(16, 0.3, points), np.full(points, 0.02))
            for i, t in enumerate(times)
        ]
        compare(curves, order)


def best_of(repeats: int, work):
    """Fastest of `repeats` runs (the first pays for page faults and caches), and its result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def compare(curves: list[LightCurve], order: str) -> None:
    s = FeatureSettings()
    t_ours, ours = best_of(3, lambda: featurise_batch(curves, s))
    t_base, base = best_of(3, lambda: per_curve(curves, s))
    np.testing.assert_allclose(ours.x, base, rtol=1e-6)
    n = len(curves)
    print(
        f"{order:>12}: featurise_batch {n / t_ours:,.0f} curves/s, per-curve numpy loop "
        f"{n / t_base:,.0f} curves/s, ratio {t_base / t_ours:.1f}x"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
