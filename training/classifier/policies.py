"""Confusion policies: how many synthetic curves of each class the next batch gets.

Each policy reads the current validation confusion matrix C (rows = true class, columns =
predicted class, counts) and splits a budget of `total` curves into per-class counts. Let
R = C with each row divided by its sum (row-normalised; empty rows are all zero), and
K = number of classes. All policies turn a non-negative score s_c into counts
n_c = round(total · s_c / Σ s) by the largest-remainder rule (so Σ n_c = total exactly;
ties go to the lower class index); when every score is zero (a perfect classifier) they
fall back to `no_priority`.

Rationale (paper §3.3): the generator should spend its curves where the classifier is
confused, so synthetic data is "ad hoc" to the current weaknesses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Policy = Callable[[np.ndarray, int], np.ndarray]


def _row_normalised(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {confusion.shape}")
    sums = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, sums, out=np.zeros_like(confusion), where=sums > 0)


def allocate(scores: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder split of `total` in proportion to `scores` (uniform if all zero)."""
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    if scores.sum() <= 0:
        scores = np.ones_like(scores)
    exact = total * scores / scores.sum()
    counts = np.floor(exact).astype(np.int64)
    remainder = exact - counts
    order = np.lexsort((np.arange(scores.size), -remainder))
    counts[order[: total - counts.sum()]] += 1
    return counts


def ccr(confusion: np.ndarray, total: int) -> np.ndarray:
    """CCR: s_c = 1 − R_cc, one minus the correct-classification rate (recall) of class c.

    Classes absent from the validation set (empty rows) get s_c = 0.
    """
    rates = _row_normalised(confusion)
    present = np.asarray(confusion).sum(axis=1) > 0
    return allocate(np.where(present, 1.0 - np.diag(rates), 0.0), total)


def max_confusion(confusion: np.ndarray, total: int) -> np.ndarray:
    """max_confusion: s_c = max_{j≠c} R_cj, the largest share of class c sent to one class."""
    rates = _row_normalised(confusion)
    np.fill_diagonal(rates, 0.0)
    return allocate(rates.max(axis=1), total)


def max_pairwise_confusion(confusion: np.ndarray, total: int) -> np.ndarray:
    """max_pairwise_confusion: the pair (i, j), i≠j, maximising R_ij + R_ji gets it all.

    The budget is halved between i and j (the odd curve to the lower index); every other
    class gets 0. Ties between pairs go to the first pair in row-major order.
    """
    rates = _row_normalised(confusion)
    pair = rates + rates.T
    np.fill_diagonal(pair, -np.inf)
    pair[np.tril_indices_from(pair)] = -np.inf
    if not np.isfinite(pair).any() or pair.max() <= 0:
        return no_priority(confusion, total)
    i, j = np.unravel_index(int(np.argmax(pair)), pair.shape)
    scores = np.zeros(pair.shape[0])
    scores[[i, j]] = 1.0
    return allocate(scores, total)


def proportion(confusion: np.ndarray, total: int) -> np.ndarray:
    """proportion: s_c = Σ_{j≠c} C_cj, the raw NUMBER of misclassified curves of class c.

    Unlike CCR it favours large classes with many errors over small ones with a bad rate.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    return allocate(confusion.sum(axis=1) - np.diag(confusion), total)


def no_priority(confusion: np.ndarray, total: int) -> np.ndarray:
    """no_priority: s_c = 1 for every class (uniform counts, confusion ignored)."""
    return allocate(np.ones(np.asarray(confusion).shape[0]), total)


POLICIES: dict[str, Policy] = {
    "ccr": ccr,
    "max_confusion": max_confusion,
    "max_pairwise_confusion": max_pairwise_confusion,
    "proportion": proportion,
    "no_priority": no_priority,
}


def synthetic_counts(
    policy: str, confusion: np.ndarray, total: int, classes: list[str]
) -> dict[str, int]:
    """Per-class counts (by class name) of the next synthetic batch."""
    counts = POLICIES[policy](confusion, total)
    return {name: int(n) for name, n in zip(classes, counts, strict=True)}
