"""`training evaluate`: score an exported model on any labelled light-curve directory.

Inference runs through onnxruntime on RUN/model.onnx with the card's feature settings, so
what is evaluated is exactly what the broker plugin serves. Curves whose label is not one of
the model's classes are counted and left out; curves too short to featurise are counted and
left out; ROC-AUC is null with a reason when fewer than two classes remain.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.lightcurve import LightCurve
from broker_plugin.model_card import load_model_dir
from training.classifier.data import TrainingDataError, featurise_labelled, load_curves


def evaluate_curves(model_dir: str | Path, curves: Sequence[LightCurve]) -> dict[str, Any]:
    """Metrics of the model in `model_dir` on labelled `curves` (see module docstring)."""
    from training.classifier.export import onnx_probabilities
    from training.classifier.metrics import summary

    onnx_path, card = load_model_dir(model_dir)
    data = featurise_labelled(curves, card.classes, card.features, card.min_points)
    labelled = sum(1 for c in curves if c.label)
    if len(data) == 0:
        raise TrainingDataError(
            f"none of the {len(curves)} curves can be evaluated ({data.dropped}); the model's "
            f"classes are {card.classes}"
        )
    probabilities = onnx_probabilities(onnx_path, data.x)
    result = summary(data.y, probabilities, card.classes)
    result["classes"] = card.classes
    result["model"] = {"name": card.name, "version": card.version, "sha256": card.onnx_sha256}
    result["n_input_curves"] = len(curves)
    result["n_labelled"] = labelled
    result["left_out"] = data.dropped
    result["true_class_counts"] = data.class_counts()
    return result


def evaluate_run(model_dir: str | Path, data_dir: str | Path, out_dir: str | Path,
                 title: str | None = None) -> dict[str, Any]:
    """Evaluate, write REPORT/metrics.json and REPORT/confusion_matrix.png."""
    from training.classifier.plots import plot_confusion

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = evaluate_curves(model_dir, load_curves(data_dir))
    result["data"] = str(data_dir)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_confusion(np.array(result["confusion_matrix"]), result["classes"],
                   out_dir / "confusion_matrix.png",
                   title=title or f"{Path(data_dir).name} (macro F1 {result['macro_f1']:.3f})")
    return result


def metrics_table(result: dict[str, Any]):
    """A rich table of the headline metrics and per-class recall."""
    from rich.table import Table

    def fmt(value: Any) -> str:
        return "null" if value is None else f"{value:.4f}" if isinstance(value, float) else str(
            value)

    table = Table(title="evaluation")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("n_curves", "macro_f1", "roc_auc_ovo", "roc_auc_ovr", "ece", "accuracy"):
        table.add_row(key, fmt(result.get(key)))
    if result.get("roc_auc_reason"):
        table.add_row("roc_auc (why null)", result["roc_auc_reason"])
    for name, recall in result.get("per_class_recall", {}).items():
        table.add_row(f"recall {name}", fmt(recall))
    for reason, count in result.get("left_out", {}).items():
        table.add_row(f"left out: {reason}", str(count))
    return table
