"""A tiny ONNX model with the serving contract, until a trained `RUN/model.onnx` is at hand.

The graph honours the model-card contract exactly: input `x` float32 (N, 2, length), output
`probabilities` float32 (N, n_classes) with softmax inside. It is a fixed random linear map
over the flattened (Δt, Δm) sequence, scaled so that different light curves get clearly
different probabilities (a constant model would hide mix-ups between alerts in tests).
Built with the `onnx` helper API (no torch), so tests and the bench stay light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import CLASSES
from broker_plugin.model_card import CARD_FILE, MODEL_FILE, ModelCard, sha256_of


def build_onnx(path: Path, length: int = 300, n_classes: int = 5, seed: int = 7) -> Path:
    """Write the linear-softmax graph to `path` and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = (rng.normal(size=(2 * length, n_classes)) * 0.05).astype(np.float32)
    bias = rng.normal(size=n_classes).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "fixture_linear_softmax",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, length])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes])],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def write_fixture_model(directory: Path, min_points: int = 5, length: int = 300) -> Path:
    """A model directory (model.onnx + model_card.json with the real sha256) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    onnx_path = build_onnx(directory / MODEL_FILE, length=length, n_classes=len(CLASSES))
    card = ModelCard(
        name="fixture-linear",
        version="0.0.1",
        classes=list(CLASSES),
        features=FeatureSettings(length=length),
        onnx_sha256=sha256_of(onnx_path),
        min_points=min_points,
        training_data={"note": "test fixture: random linear weights, not trained"},
    )
    card.save(directory / CARD_FILE)
    return directory
