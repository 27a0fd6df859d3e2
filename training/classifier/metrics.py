"""Classification metrics of the paper's tables, robust to missing classes.

ROC-AUC is undefined when fewer than two of the model's classes occur among the true
labels (e.g. an all-RRLYR survey): we return None and a reason instead of raising. When
only some classes occur, AUC is computed over the classes present, with the probabilities
renormalised over them (sklearn requires it for one-vs-one).
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
    p = np.asarray(probabilities, np.float64)[:, present]
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
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


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 15
) -> float:
    """ECE of the top-class confidence over `n_bins` equal-width bins (Guo et al. 2017)."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape[0] == 0:
        return float("nan")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct.astype(float), minlength=n_bins)
    return float(np.abs(conf_sum - acc_sum).sum() / confidence.size)


def summary(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """All metrics of a report: macro_f1, roc_auc_ovo/ovr (+reason), ece, recall, accuracy."""
    y_pred = np.asarray(probabilities).argmax(axis=1)
    result: dict[str, Any] = {
        "n_curves": len(y_true),
        "macro_f1": macro_f1(y_true, y_pred, len(classes)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else float("nan"),
    }
    result.update(roc_auc(y_true, probabilities))
    result["ece"] = expected_calibration_error(y_true, probabilities)
    result["per_class_recall"] = per_class_recall(y_true, y_pred, classes)
    result["confusion_matrix"] = confusion(y_true, y_pred, len(classes)).tolist()
    return result
