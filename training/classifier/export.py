"""Export a trained classifier: RUN/model.onnx + RUN/model_card.json (the serving contract).

The ONNX graph is `ProbabilityModel` (input scaling + CNN + softmax, the mean over members
for an ensemble), opset 17, input `x`
float32 (N, 2, L) with a dynamic batch axis, output `probabilities` (N, n_classes). Parity
with torch is checked right after export with onnxruntime on real inputs; the maximum
absolute difference goes into the card, and export fails loudly above `tolerance`.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from broker_plugin.features import FeatureBatch, FeatureSettings
from broker_plugin.model_card import (
    CARD_FILE,
    INPUT_NAME,
    MODEL_FILE,
    OUTPUT_NAME,
    ModelCard,
    sha256_of,
)
from training.classifier.model import ProbabilityModel, VariableStarCNN

OPSET = 17


class ExportParityError(RuntimeError):
    """The exported graph disagrees with torch beyond the tolerance."""


Members = VariableStarCNN | Sequence[VariableStarCNN]


def probability_model(members: Members) -> ProbabilityModel:
    """The exported graph's module, on CPU in eval mode."""
    members = [members] if isinstance(members, VariableStarCNN) else list(members)
    return ProbabilityModel([m.cpu().eval() for m in members]).eval()


def export_onnx(model: Members, path: str | Path, length: int) -> Path:
    """Write the probability graph to `path` (legacy TorchScript exporter: no onnxscript)."""
    path = Path(path)
    wrapper = probability_model(model)
    example = torch.zeros(2, 2, length)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (example,), str(path),
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    return path


def onnx_probabilities(path: str | Path, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The graph's probabilities, computed by serving's own runner (`Classifier.predict`).

    The graph may have no card yet (export checks parity before writing it), hence
    `broker_plugin.model_inputs.graph_classifier`; onnxruntime uses every core here.
    """
    from broker_plugin.model_inputs import graph_classifier

    return graph_classifier(path, threads=0).predict(np.asarray(x, np.float32), batch_size)


def parity(model: Members, path: str | Path, x: np.ndarray) -> float:
    """Max |p_torch − p_onnx| over `x`."""
    with torch.no_grad():
        expected = probability_model(model)(torch.as_tensor(x)).numpy()
    return float(np.max(np.abs(expected - onnx_probabilities(path, x)))) if len(x) else 0.0


def export_run(
    model: Members,
    run_dir: str | Path,
    classes: list[str],
    settings: FeatureSettings,
    reference: FeatureBatch,
    *,
    name: str = "selfreg-cnn",
    version: str = "0.1.0",
    min_points: int = 3,
    training_data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    tolerance: float = 1e-4,
) -> tuple[Path, ModelCard]:
    """Export ONNX, check parity on `reference` features, write the card with drift stats.

    `model` is one trained classifier or the members of an ensemble.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(model, run_dir / MODEL_FILE, settings.length)
    sample = reference.x[:2048]
    max_diff = parity(model, onnx_path, sample)
    if max_diff > tolerance:
        raise ExportParityError(
            f"{onnx_path}: onnxruntime differs from torch by {max_diff:.2e} > {tolerance:.0e}"
        )
    probabilities = onnx_probabilities(onnx_path, reference.x)
    card = ModelCard(
        name=name,
        version=version,
        classes=list(classes),
        features=settings,
        onnx_sha256=sha256_of(onnx_path),
        min_points=min_points,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        training_data=training_data or {},
        metrics={**(metrics or {}), "export_parity_max_abs_diff": max_diff},
        config=config or {},
        reference=drift_reference(reference, probabilities, classes),
    )
    card.save(run_dir / CARD_FILE)
    return onnx_path, card


def drift_reference(
    batch: FeatureBatch, probabilities: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """The monitoring reference (broker_plugin.drift), computed on the validation features."""
    from broker_plugin.drift import reference_statistics

    return reference_statistics(batch, probabilities, classes)
