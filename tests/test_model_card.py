"""Model cards: round trip, and refusing a model file that is not the one described."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_plugin.features import FeatureSettings
from broker_plugin.model_card import ModelCard, ModelCardError, load_model_dir, sha256_of


def write_model(directory: Path) -> ModelCard:
    (directory / "model.onnx").write_bytes(b"not really onnx, but hashed all the same")
    card = ModelCard(name="cnn", version="1", classes=["CEP", "RRLYR"],
                     features=FeatureSettings(length=100),
                     onnx_sha256=sha256_of(directory / "model.onnx"))
    card.save(directory / "model_card.json")
    return card


def test_round_trip(tmp_path: Path) -> None:
    """A saved card loads back equal, feature settings included."""
    card = write_model(tmp_path)
    _, back = load_model_dir(tmp_path)
    assert back == card


def test_replaced_model_file_is_refused(tmp_path: Path) -> None:
    """A model file whose hash differs from the card is an error naming the file."""
    write_model(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"something else")
    with pytest.raises(ModelCardError, match="sha256 differs"):
        load_model_dir(tmp_path)


def test_missing_fields_are_named(tmp_path: Path) -> None:
    """A card without required fields says which ones."""
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "model_card.json").write_text('{"name": "cnn"}')
    with pytest.raises(ModelCardError, match="classes"):
        load_model_dir(tmp_path)
