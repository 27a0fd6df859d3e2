"""Post-hoc calibration and the unknown score, fitted on real curves the network did not train on.

Calibration is temperature scaling (Guo et al. 2017) applied to the log of the graph's
probabilities, so it works for one network and for an ensemble's averaged probabilities
alike: p' = softmax(log p / T). One parameter cannot change the predicted class, and it
measured better across surveys than a per-class bias (which learns the calibration set's
class mix; see the README's calibration table).

The unknown score, for models with summary statistics, is a random forest on those
statistics shown the training surveys' stars of other classes (unknown_forest.py): on the
leave-one-survey-out folds it separated real stars of other classes far better than any
score of the network (README). Models without summary statistics keep a deep
k-nearest-neighbour distance (Sun et al. 2022): one minus the cosine similarity of a curve's
penultimate embedding to its k-th nearest neighbour in a bank of training embeddings, the
best of max-softmax, entropy, energy and Mahalanobis distances there. The flag threshold
keeps a stated share of in-class validation curves.

Both are baked into the ONNX graph by `graph_tail`, so serving does not change; the card
stores the method, its parameters and the figures before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.classifier.metrics import (
    PROBABILITY_FLOOR,
    as_probabilities,
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)
from training.classifier.unknown_forest import UnknownForest

#: Bounds of the fitted temperature: beyond them the calibration set is too small or odd.
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Share of in-class validation curves that the unknown flag keeps (does not flag).
DEFAULT_KEEP = 0.95
#: Neighbours and bank size of the deep-kNN unknown score.
DEFAULT_NEIGHBOURS = 5
DEFAULT_BANK_SIZE = 1000


def temperature_scaled(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) in float64 (the graph computes the same in float32)."""
    logp = np.log(np.maximum(as_probabilities(probabilities), PROBABILITY_FLOOR)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The T that minimises the NLL of `y_true` under softmax(log p / T)."""
    from scipy.optimize import minimize_scalar

    y_true = np.asarray(y_true, np.int64)
    if len(y_true) == 0:
        raise ValueError("temperature scaling needs at least one labelled curve")

    def nll(log_t: float) -> float:
        return negative_log_likelihood(y_true, temperature_scaled(probabilities, np.exp(log_t)))

    low, high = np.log(TEMPERATURE_BOUNDS)
    found = minimize_scalar(nll, bounds=(low, high), method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))


def calibration_figures(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """ECE (15 bins), Brier and NLL of one set of probabilities."""
    return {"ece": expected_calibration_error(y_true, probabilities),
            "brier": brier_score(y_true, probabilities),
            "nll": negative_log_likelihood(y_true, probabilities)}


def normalised(embedding: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float64."""
    e = np.asarray(embedding, np.float64)
    norm = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.maximum(norm, 1e-12)


def knn_scores(embedding: np.ndarray, bank: np.ndarray, k: int = DEFAULT_NEIGHBOURS,
               chunk: int = 4096) -> np.ndarray:
    """1 − cosine similarity to the k-th nearest bank row (bank rows already normalised)."""
    k = min(k, len(bank))
    out = np.empty(len(embedding))
    for start in range(0, len(embedding), chunk):
        sim = normalised(embedding[start:start + chunk]) @ bank.T
        out[start:start + chunk] = 1.0 - np.partition(sim, -k, axis=1)[:, -k]
    return out


def stratified_bank(embedding: np.ndarray, y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """At most `size` normalised embeddings, as many per class as the class allows."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = max(size // max(len(classes), 1), 1)
    picks = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in classes]
    return normalised(embedding[np.sort(np.concatenate(picks))]).astype(np.float32)


@dataclass
class TailParameters:
    """What the graph tail needs: the temperature and the unknown score's bank and threshold."""

    temperature: float = 1.0
    bank: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    neighbours: int = DEFAULT_NEIGHBOURS
    threshold: float = 1.0
    #: The summary-statistics forest (unknown_forest.py); when set, it is the unknown score.
    forest: UnknownForest | None = None

    def card_entries(self, keep: float, fitted_on: dict[str, Any],
                     before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
        """The card's `calibration` and `unknown` blocks."""
        return {
            "calibration": {"method": "temperature", "temperature": self.temperature,
                            "fitted_on": fitted_on, "before": before, "after": after},
            "unknown": {**(self.forest.card_entry() if self.forest is not None else
                           {"score": "knn_cosine_embedding", "neighbours": self.neighbours,
                            "bank_size": len(self.bank)}),
                        "threshold": self.threshold, "in_class_kept": keep,
                        "output": "unknown_score"},
        }
