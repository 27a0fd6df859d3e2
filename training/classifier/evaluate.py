"""`training evaluate`: score an exported model on any labelled light-curve directory.

Curves become model inputs and probabilities through the broker plugin's own code
(`broker_plugin.model_inputs`: the card's feature settings and short-curve rule, then
serving's `Classifier`), so what is evaluated is exactly what is served: a single-band
light curve gets the probabilities `broker-plugin classify` gives it. Curves whose label is
not one of the model's classes are counted and left out; curves with fewer than
`min_points − 1` usable (Δt, Δm) pairs (the rule serving applies to bands) are counted and
left out; classes absent from the set are reported absent (recall null), and ROC-AUC is null
with a reason when fewer than two classes remain. With `other_curves` (`--other-data`), the
unknown score is measured on stars of other classes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.lightcurve import LightCurve
from broker_plugin.model_inputs import curve_inputs
from training.classifier.data import TrainingDataError, featurise_labelled, load_curves


def evaluate_curves(model_dir: str | Path, curves: Sequence[LightCurve],
                    other_curves: Sequence[LightCurve] = (),
                    predictions: bool = False) -> dict[str, Any]:
    """Metrics of the model in `model_dir` on labelled `curves` (see module docstring).

    With `predictions`, the result also lists every evaluated curve (object id, band,
    label, probabilities per class, unknown score) in input order.
    """
    from broker_plugin.serving.classifier import Classifier
    from training.classifier.metrics import summary

    classifier = Classifier(model_dir)
    card = classifier.card
    data = featurise_labelled(curves, card.classes, card.features, card.min_points)
    labelled = sum(1 for c in curves if c.label)
    if len(data) == 0:
        raise TrainingDataError(
            f"none of the {len(curves)} curves can be evaluated ({data.dropped}); the model's "
            f"classes are {card.classes}"
        )
    probabilities, scores = classifier.predict_scored(data.x)
    result = summary(data.y, probabilities, card.classes)
    result["classes"] = card.classes
    result["absent_classes"] = [c for c, n in data.class_counts().items() if n == 0]
    result["model"] = {"name": card.name, "version": card.version, "sha256": card.onnx_sha256,
                       "calibration": card.calibration.get("method", "none")}
    result["n_input_curves"] = len(curves)
    result["n_labelled"] = labelled
    result["left_out"] = data.dropped
    result["true_class_counts"] = data.class_counts()
    result["unknown"] = _unknown(classifier, scores, other_curves)
    result["unknown_auroc"] = (result["unknown"] or {}).get("auroc")
    if predictions:
        result["predictions"] = _predictions(curves, data, probabilities, scores)
    return result


def _predictions(curves: Sequence[LightCurve], data: Any, probabilities: np.ndarray,
                 scores: np.ndarray | None) -> list[dict[str, Any]]:
    """One entry per evaluated curve: what the model said about it."""
    classes = data.classes
    return [
        {"object_id": str(curves[i].object_id), "band": curves[i].band,
         "label": classes[y], "probabilities": dict(zip(classes, p, strict=True)),
         "unknown_score": None if scores is None else float(scores[k])}
        for k, (i, y, p) in enumerate(zip(data.source_index.tolist(), data.y.tolist(),
                                          probabilities.tolist(), strict=True))
    ]


def other_class_curves(curves: Sequence[LightCurve], classes: Sequence[str]
                       ) -> list[LightCurve]:
    """Curves of a directory that are none of `classes` (unlabelled or another label)."""
    return [c for c in curves if c.label not in classes]


def source_class_of(curve: LightCurve) -> str:
    """The catalogue's own class name (importers keep it in `source_class`), else the label."""
    return str(curve.meta.get("source_class") or curve.label or "unlabelled")


def _unknown(classifier: Any, in_scores: np.ndarray | None,
             other_curves: Sequence[LightCurve]) -> dict[str, Any] | None:
    """The unknown flag on in-class curves and, when given, on other-class curves."""
    from training.classifier.metrics import unknown_detection

    if in_scores is None:
        return None
    card = classifier.card
    others = other_class_curves(other_curves, card.classes)
    inputs = curve_inputs(others, card.features, card.min_points)
    kept = [others[i] for i in inputs.rows.tolist()]
    _, other_scores = classifier.predict_scored(inputs.features.x)
    keys = {"source_class": np.array([source_class_of(c) for c in kept], dtype=object),
            "survey": np.array([c.survey or "unknown" for c in kept], dtype=object)}
    masks = {name: {str(k): values == k for k in np.unique(values)}
             for name, values in keys.items()}
    result = unknown_detection(in_scores, other_scores if other_scores is not None else [],
                               classifier.unknown_threshold, masks if kept else None)
    result["score"] = card.unknown.get("score")
    result["other_left_out_too_short"] = int(inputs.too_short.sum())
    return result


def evaluate_run(model_dir: str | Path, data_dir: str | Path, out_dir: str | Path,
                 title: str | None = None, other_dir: str | Path | None = None
                 ) -> dict[str, Any]:
    """Evaluate; write REPORT/metrics.json, confusion_matrix.png and reliability.png."""
    from training.classifier.plots import plot_confusion, plot_reliability

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    other = load_curves(other_dir) if other_dir is not None else []
    result = evaluate_curves(model_dir, load_curves(data_dir), other)
    result["data"] = str(data_dir)
    result["other_data"] = None if other_dir is None else str(other_dir)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    name = title or Path(data_dir).name
    plot_confusion(np.array(result["confusion_matrix"]), result["classes"],
                   out_dir / "confusion_matrix.png",
                   title=f"{name} (macro F1 {result['macro_f1']:.3f})")
    plot_reliability(result["reliability"], out_dir / "reliability.png",
                     title=f"{name} (ECE {result['ece']:.3f})")
    return result


def metrics_table(result: dict[str, Any]):
    """A rich table of the headline metrics, per-class recall and the unknown flag."""
    from rich.table import Table

    def fmt(value: Any) -> str:
        return "null" if value is None else f"{value:.4f}" if isinstance(value, float) else str(
            value)

    table = Table(title="evaluation")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("n_curves", "macro_f1", "roc_auc_ovo", "roc_auc_ovr", "ece", "brier", "nll",
                "accuracy"):
        table.add_row(key, fmt(result.get(key)))
    if result.get("roc_auc_reason"):
        table.add_row("roc_auc (why null)", result["roc_auc_reason"])
    for name, recall in result.get("per_class_recall", {}).items():
        table.add_row(f"recall {name}", "absent" if recall is None else fmt(recall))
    unknown = result.get("unknown") or {}
    for key in ("in_class_flagged", "auroc", "other_flagged"):
        if unknown.get(key) is not None:
            table.add_row(f"unknown: {key}", fmt(unknown[key]))
    for reason, count in result.get("left_out", {}).items():
        table.add_row(f"left out: {reason}", str(count))
    return table
