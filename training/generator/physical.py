"""The physical-parameter space: one transform, expert priors, and per-class imputation.

Every model that touches physical parameters (the per-class mixtures, the latent regressor,
the VAE's encoder) sees them through `to_model_space`, so that "log10 P" means the same
thing everywhere (docs/design.md, "Physical parameters").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from broker_plugin.lightcurve import PHYSICAL_PARAMETERS, LightCurve

#: Which parameters are modelled in log10 (the rest linearly).
LOG_PARAMETERS: frozenset[str] = frozenset({"period", "teff", "radius"})
_LOG_MASK = np.array([p in LOG_PARAMETERS for p in PHYSICAL_PARAMETERS])

#: Expert midpoints per class and subclass, in PHYSICAL_PARAMETERS order (period [d], teff [K],
#: [Fe/H], abs G [mag], logg, radius [R_sun]). Copied from `class_priors.yaml` of the PELS-VAE
#: work (Martínez-Palomera et al. 2022, MIT licence) as used by Pérez-Galarce et al. (2025).
SUBCLASS_MIDPOINTS: dict[str, dict[str, tuple[float, ...]]] = {
    "CEP": {
        "Fundamental": (100.5, 6500.0, 0.0, 0.0, 1.25, 40.0),
        "First-overtone": (3.0, 6500.0, 0.0, 0.0, 1.3, 36.5),
        "Second-overtone": (7.5, 6550.0, 0.0, 0.0, 1.3, 33.5),
        "Multi-tone": (50.5, 6600.0, 0.0, 0.0, 1.25, 40.0),
    },
    "DSCT": {
        "Single-mode": (0.16, 7500.0, 0.0, 2.25, 4.0, 2.0),
        "Multi-mode": (0.16, 7500.0, 0.0, 2.2, 4.0, 1.9),
    },
    "ECL": {
        "Binary": (5.5, 5500.0, 0.0, 1.25, 4.0, 1.15),
        "Ternary": (12.5, 5050.0, 0.0, 1.6, 3.5, 1.5),
        "Pulsating": (4.25, 5500.0, 0.0, 1.2, 4.0, 1.15),
    },
    "LPV": {"LPV": (550.0, 2750.0, -0.5, 0.25, 0.0, 150.0)},
    "RRLYR": {
        "RRab": (0.60, 6500.0, -0.25, 0.65, 3.0, 0.7),
        "RRc": (0.35, 6700.0, -0.25, 0.75, 2.9, 0.8),
        "RRd": (0.745, 6600.0, -0.4, 0.65, 3.1, 0.75),
    },
}


def to_model_space(values: np.ndarray) -> np.ndarray:
    """(N, 6) physical parameters -> (log10 P, log10 Teff, [Fe/H], M_G, logg, log10 R).

    Non-positive values of a log parameter become NaN (treated as missing, then imputed).
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    logged = out[..., _LOG_MASK]
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = logged > 0
        out[..., _LOG_MASK] = np.where(positive, np.log10(np.where(positive, logged, 1)), np.nan)
    return out


def from_model_space(values: np.ndarray) -> np.ndarray:
    """Inverse of `to_model_space`."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[..., _LOG_MASK] = 10.0 ** out[..., _LOG_MASK]
    return out


def class_prior_mean(label: str) -> np.ndarray | None:
    """Mean of the transformed subclass midpoints of a class (None for an unknown class)."""
    subclasses = SUBCLASS_MIDPOINTS.get(label)
    if not subclasses:
        return None
    return to_model_space(np.array(list(subclasses.values()))).mean(axis=0)


def n_subclasses(label: str) -> int:
    """How many mixture components a class gets: its number of expert subclasses (>= 1)."""
    return max(1, len(SUBCLASS_MIDPOINTS.get(label, {})))


def params_matrix(curves: Sequence[LightCurve]) -> np.ndarray:
    """(N, 6) raw physical parameters of the curves; absent or non-finite values are NaN."""
    out = np.full((len(curves), len(PHYSICAL_PARAMETERS)), np.nan)
    for i, curve in enumerate(curves):
        for j, name in enumerate(PHYSICAL_PARAMETERS):
            value = curve.params.get(name) if isinstance(curve.params, Mapping) else None
            if value is not None:
                try:
                    out[i, j] = float(value)
                except (TypeError, ValueError):
                    continue
    out[~np.isfinite(out)] = np.nan
    return out


def impute_per_class(
    values: np.ndarray, labels: np.ndarray, k: int = 5
) -> np.ndarray:
    """Fill NaNs in model-space parameters with k-NN means within each class (k = 5 in the
    paper). A column missing for a whole class falls back to the class's expert midpoint
    (or, for a class without priors, the column mean over all classes)."""
    from sklearn.impute import KNNImputer

    values = np.asarray(values, dtype=np.float64).copy()
    with warnings.catch_warnings():  # an all-NaN column is expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        overall = np.nanmean(values, axis=0) if values.size else np.zeros(values.shape[1])
    for label in np.unique(labels):
        rows = labels == label
        block = values[rows]
        if not np.isnan(block).any():
            continue
        prior = class_prior_mean(str(label))
        empty = np.isnan(block).all(axis=0)
        fallback = prior if prior is not None else overall
        block[:, empty] = np.broadcast_to(fallback[empty], (block.shape[0], int(empty.sum())))
        if np.isnan(block).any():
            neighbours = min(k, max(1, block.shape[0] - 1))
            block = KNNImputer(n_neighbors=neighbours).fit_transform(block)
        values[rows] = block
    return values
