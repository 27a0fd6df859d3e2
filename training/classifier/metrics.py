"""Classification and calibration metrics of the paper's tables, robust to odd inputs.

Every report starts from `as_probabilities`: float64, non-finite values and negatives set to
zero, rows renormalised (float32 softmax rows sum to 1 ± 1e-7, which sklearn rejects for
one-vs-one; a saturated row [1, 0, ...] stays as it is). ROC-AUC is undefined when fewer
than two of the model's classes occur among the true labels (e.g. an all-RRLYR survey): we
return None and a reason instead of raising. When only some classes occur, AUC is computed
over the classes present, with the probabilities renormalised over them; per-class ROC is
one-vs-rest, null for a class that is absent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Floor of a probability inside a logarithm (NLL of a saturated wrong answer is ~27.6).
PROBABILITY_FLOOR = 1e-12
#: Bins of the expected calibration error and of the reliability diagram (equal width).
ECE_BINS = 15


def as_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(N, K) float64 rows that are finite, non-negative and sum to one (uniform if all 0)."""
    p = np.array(probabilities, dtype=np.float64, ndmin=2, copy=True)
    p[~np.isfinite(p) | (p < 0)] = 0.0
    total = p.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    p[empty] = 1.0 / max(p.shape[1], 1)
    total[empty] = 1.0
    return p / total


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    flat = np.asarray(y_true, np.int64) * n_classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Macro F1 over the classes that occur in y_true or y_pred (sklearn's convention)."""
    cm = confusion(y_true, y_pred, n_classes).astype(float)
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0
    if not present.any():
        return float("nan")
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=present)
    return float(f1[present].mean())


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Recall of each class (None for a class absent from y_true)."""
    cm = confusion(y_true, y_pred, len(classes))
    support = cm.sum(axis=1)
    return {c: (float(cm[i, i] / support[i]) if support[i] else None)
            for i, c in enumerate(classes)}


def roc_auc(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Macro ROC-AUC one-vs-one and one-vs-rest, or None with a reason."""
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true, np.int64)
    present = np.unique(y_true)
    if present.size < 2:
        reason = (f"only {present.size} class present among the true labels; ROC-AUC needs "
                  "at least two")
        return {"roc_auc_ovo": None, "roc_auc_ovr": None, "roc_auc_reason": reason}
    p = as_probabilities(as_probabilities(probabilities)[:, present])
    remap = np.searchsorted(present, y_true)
    if present.size == 2:
        auc = float(roc_auc_score(remap, p[:, 1]))
        return {"roc_auc_ovo": auc, "roc_auc_ovr": auc, "roc_auc_reason": None}
    labels = np.arange(present.size)
    return {
        "roc_auc_ovo": float(roc_auc_score(remap, p, multi_class="ovo", labels=labels)),
        "roc_auc_ovr": float(roc_auc_score(remap, p, multi_class="ovr", labels=labels,
                                           average="macro")),
        "roc_auc_reason": None,
    }


def reliability_bins(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS
) -> dict[str, list[float]]:
    """Per equal-width bin of top-class confidence: count, mean confidence, accuracy."""
    p = as_probabilities(probabilities)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    conf = np.bincount(bins, weights=confidence, minlength=n_bins)
    acc = np.bincount(bins, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"count": count.tolist(), "confidence": (conf / count).tolist(),
                "accuracy": (acc / count).tolist()}


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """ECE of the top-class confidence over `n_bins` equal-width bins (Guo et al. 2017)."""
    if len(y_true) == 0:
        return float("nan")
    bins = reliability_bins(y_true, probabilities, n_bins)
    count = np.asarray(bins["count"])
    gap = np.nan_to_num(np.abs(np.asarray(bins["confidence"]) - np.asarray(bins["accuracy"])))
    return float((count * gap).sum() / count.sum())


def brier_score(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean over curves of Σ_k (p_k − 1[y = k])² (multi-class Brier, range 0–2)."""
    p = as_probabilities(probabilities)
    if p.shape[0] == 0:
        return float("nan")
    p[np.arange(len(p)), np.asarray(y_true, np.int64)] -= 1.0
    return float((p**2).sum(axis=1).mean())


def negative_log_likelihood(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean −log p(true class), with p floored at PROBABILITY_FLOOR (saturated answers)."""
    p = as_probabilities(probabilities)
    if p.shape[0] == 0:
        return float("nan")
    true_p = p[np.arange(len(p)), np.asarray(y_true, np.int64)]
    return float(-np.log(np.maximum(true_p, PROBABILITY_FLOOR)).mean())


def per_class(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """Support, recall, precision, F1 and one-vs-rest ROC-AUC of each class (None if undefined)."""
    from sklearn.metrics import roc_auc_score

    p = as_probabilities(probabilities)
    y_true = np.asarray(y_true, np.int64)
    cm = confusion(y_true, p.argmax(axis=1), len(classes)).astype(float)
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(classes):
        support, predicted, tp = cm[k].sum(), cm[:, k].sum(), cm[k, k]
        positives = y_true == k
        out[name] = {
            "support": int(support),
            "recall": float(tp / support) if support else None,
            "precision": float(tp / predicted) if predicted else None,
            "f1": float(2 * tp / (support + predicted)) if support + predicted else None,
            "roc_auc_ovr": (float(roc_auc_score(positives, p[:, k]))
                            if 0 < positives.sum() < len(y_true) else None),
        }
    return out


def summary(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """All metrics of a report: macro_f1, roc_auc_ovo/ovr (+reason), ece, brier, nll,
    per-class figures and recall, accuracy, confusion matrix, reliability bins."""
    probabilities = as_probabilities(probabilities)
    y_true = np.asarray(y_true, np.int64)
    y_pred = probabilities.argmax(axis=1)
    result: dict[str, Any] = {
        "n_curves": len(y_true),
        "macro_f1": macro_f1(y_true, y_pred, len(classes)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else float("nan"),
    }
    result.update(roc_auc(y_true, probabilities))
    result["ece"] = expected_calibration_error(y_true, probabilities)
    result["brier"] = brier_score(y_true, probabilities)
    result["nll"] = negative_log_likelihood(y_true, probabilities)
    result["per_class"] = per_class(y_true, probabilities, classes)
    result["per_class_recall"] = per_class_recall(y_true, y_pred, classes)
    result["reliability"] = reliability_bins(y_true, probabilities)
    result["confusion_matrix"] = confusion(y_true, y_pred, len(classes)).tolist()
    return result


def unknown_detection(in_class: np.ndarray, other: np.ndarray, threshold: float | None,
                      groups: dict[str, dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """How well unknown scores tell stars of other classes (`other`) from ours (`in_class`).

    AUROC (higher score = more unknown), the share of in-class curves flagged (false
    alarms) and of other-class curves flagged (detections) at `threshold`, and the same per
    group of the other-class curves (e.g. `{"source_class": {name: mask}}`), for groups
    against all in-class curves.
    """
    from sklearn.metrics import roc_auc_score

    in_class = np.asarray(in_class, np.float64)
    other = np.asarray(other, np.float64)

    def block(others: np.ndarray) -> dict[str, Any]:
        both = in_class.size and others.size
        y = np.r_[np.zeros(in_class.size), np.ones(others.size)]
        return {
            "n_other": int(others.size),
            "auroc": float(roc_auc_score(y, np.r_[in_class, others])) if both else None,
            "other_flagged": (float(np.mean(others > threshold))
                              if threshold is not None and others.size else None),
        }

    result = {"n_in_class": int(in_class.size), **block(other),
              "in_class_flagged": (float(np.mean(in_class > threshold))
                                   if threshold is not None and in_class.size else None),
              "threshold": threshold}
    for name, masks in (groups or {}).items():
        result[f"per_{name}"] = {key: block(other[mask]) for key, mask in masks.items()}
    return result
