"""The model shipped in the package: present, intact, and what run/classify use by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from broker_plugin.default_model import DEFAULT_MODEL_DIR, NoModelError, resolve_model_dir
from broker_plugin.model_card import load_model_dir, sha256_of

needs_model = pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "model.onnx").is_file(),
    reason="no model shipped in broker_plugin/_model (scripts/build-default-model makes one)")


@needs_model
def test_shipped_model_loads_and_matches_its_card() -> None:
    onnx_path, card = load_model_dir(DEFAULT_MODEL_DIR)  # verifies the sha256 itself
    assert sha256_of(onnx_path) == card.onnx_sha256
    assert onnx_path.stat().st_size < 10_000_000
    assert set(card.classes) == {"CEP", "DSCT", "ECL", "LPV", "RRLYR"}
    surveys = card.training_data.get("surveys", [])
    # The card names the data: the shared real surveys and the simulator.
    assert {"CRTS", "EROS-1", "OGLE-III"} <= set(surveys), surveys
    assert card.version != "0.1.0"


@needs_model
def test_shipped_model_classifies(tmp_path: Path) -> None:
    from broker_plugin.features import featurise_batch
    from broker_plugin.lightcurve import LightCurve
    from training.classifier.export import onnx_probabilities

    onnx_path, card = load_model_dir(DEFAULT_MODEL_DIR)
    t = np.linspace(0, 300, 200)
    curve = LightCurve("x", t, 15 + 0.4 * np.sin(2 * np.pi * t / 0.6), np.full(200, 0.02))
    p = onnx_probabilities(onnx_path, featurise_batch([curve], card.features).x)
    assert p.shape == (1, 5) and np.isclose(p.sum(), 1.0, atol=1e-5)


@needs_model
def test_run_and_classify_default_to_it(tmp_path: Path) -> None:
    assert resolve_model_dir(None) == DEFAULT_MODEL_DIR
    assert resolve_model_dir(tmp_path) == tmp_path


def test_missing_default_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    import broker_plugin.default_model as default_model

    monkeypatch.setattr(default_model, "DEFAULT_MODEL_DIR", tmp_path / "none")
    with pytest.raises(NoModelError, match="--model"):
        default_model.resolve_model_dir(None)
