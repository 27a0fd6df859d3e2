"""The embedded default data source: a physically grounded variable-star light-curve simulator.

`simulate_curves(n_per_class, cadence, seed)` returns labelled `LightCurve`s with consistent
physical parameters for the five classes, observed with an OGLE-like, LSST-like or sparse
cadence. See `population` (physics), `shapes` (light curves), `cadence` (sampling, noise).
"""

from __future__ import annotations

from broker_plugin.lightcurve import CLASSES
from training.simulator.cadence import CADENCES
from training.simulator.simulate import iter_chunks, simulate_curves

__all__ = ["CADENCES", "CLASSES", "iter_chunks", "simulate_curves"]
