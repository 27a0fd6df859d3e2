"""Combining per-band answers into one object-level answer.

Rule (documented in the README and the output schema): the combined distribution is the
normalised, points-weighted geometric mean of the band distributions,

    log p(c) ∝ Σ_b w_b · log p_b(c),   w_b = n_b / Σ_b n_b,

where n_b is the number of points the band contributed. A band with more epochs speaks
louder; a single band passes through unchanged; and unlike a plain product it does not turn
two correlated views of the same star into overconfidence (the weights sum to one). Bands
below the model card's `min_points` take no part. Vectorised over all alerts of a batch.
"""

from __future__ import annotations

import numpy as np

_TINY = np.float64(1e-12)


def combine_bands(
    probabilities: np.ndarray, points: np.ndarray, owner: np.ndarray, n_owners: int
) -> np.ndarray:
    """(n_owners, n_classes) combined distributions from band rows.

    `probabilities` (n_rows, n_classes), `points` (n_rows,) weights, `owner` (n_rows,) the
    alert row each band belongs to. Owners with no rows get NaN.
    """
    n_classes = probabilities.shape[1] if probabilities.ndim == 2 else 0
    out = np.full((n_owners, n_classes), np.nan)
    if probabilities.shape[0] == 0:
        return out
    weights = points.astype(np.float64)
    total = np.bincount(owner, weights=weights, minlength=n_owners)
    logp = np.log(np.maximum(probabilities.astype(np.float64), _TINY))
    summed = np.zeros((n_owners, n_classes))
    np.add.at(summed, owner, logp * weights[:, None])
    present = total > 0
    mean = summed[present] / total[present, None]
    mean -= mean.max(axis=1, keepdims=True)
    expd = np.exp(mean)
    out[present] = expd / expd.sum(axis=1, keepdims=True)
    return out


def combine_scores(
    scores: np.ndarray, points: np.ndarray, owner: np.ndarray, n_owners: int
) -> np.ndarray:
    """(n_owners,) points-weighted mean of band scores (the unknown score), NaN if no band.

    The same weights as `combine_bands`: a band with more epochs speaks louder.
    """
    weights = points.astype(np.float64)
    total = np.bincount(owner, weights=weights, minlength=n_owners)
    summed = np.bincount(owner, weights=weights * np.asarray(scores, np.float64),
                         minlength=n_owners)
    out = np.full(n_owners, np.nan)
    present = total > 0
    out[present] = summed[present] / total[present]
    return out
