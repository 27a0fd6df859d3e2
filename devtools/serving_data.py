"""Tiny light-curve directories for the serving tests and benchmark (numpy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import write_lightcurve_dir


def periodic_curves(n_objects: int, points: int = 40, seed: int = 0) -> list[LightCurve]:
    """`n_objects` sinusoidal stars observed in g and r (about `points` points in total)."""
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(n_objects):
        period = rng.uniform(0.3, 30)
        t = np.sort(rng.uniform(60000, 60000 + 3 * points, points))
        band = np.where(rng.random(points) < 0.5, "g", "r")
        mag = 17 + 0.4 * np.sin(2 * np.pi * t / period) + (band == "g") * 0.3
        mag += rng.normal(0, 0.02, points)
        for b in ("g", "r"):
            sel = band == b
            curves.append(
                LightCurve(
                    f"star{i:03d}",
                    t[sel],
                    mag[sel],
                    np.full(sel.sum(), 0.02),
                    band=b,
                    label="RRLYR",
                    survey="sim",
                )
            )
    return curves


def write_curves(directory: Path, n_objects: int, points: int = 40, seed: int = 0) -> Path:
    write_lightcurve_dir(directory, periodic_curves(n_objects, points, seed))
    return directory
