"""The model card: everything serving needs to use an exported model the way it was trained.

Written by `training train` beside `model.onnx`; read by the broker plugin, which takes the
classes, the feature settings and the drift reference from here and never hard-codes them.
The ONNX contract: input `x`, float32 (N, 2, length); output `probabilities`, float32
(N, n_classes), rows summing to 1 (softmax inside the graph, calibrated when the card has
a `calibration` block); calibrated models also output `unknown_score`, float32 (N,), flagged
above the card's `unknown.threshold`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from broker_plugin.errors import UserError
from broker_plugin.features import FeatureSettings

MODEL_FILE = "model.onnx"
CARD_FILE = "model_card.json"
INPUT_NAME = "x"
OUTPUT_NAME = "probabilities"
#: Optional second output (N,): the unknown score of calibrated models (card `unknown`).
UNKNOWN_OUTPUT_NAME = "unknown_score"
CARD_FORMAT = 1


class ModelCardError(UserError, ValueError):
    """A model directory or card that cannot be served; the message names the file and fix."""


@dataclass
class ModelCard:
    """Metadata of one exported model (see module docstring for the ONNX contract)."""

    name: str
    version: str
    classes: list[str]
    features: FeatureSettings
    onnx_sha256: str
    min_points: int = 3
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    created: str = ""
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    # Post-hoc calibration inside the graph: method, parameters, figures before and after.
    calibration: dict[str, Any] = field(default_factory=dict)
    # Unknown score: method, the graph output, the flag threshold and what it keeps.
    unknown: dict[str, Any] = field(default_factory=dict)
    format: int = CARD_FORMAT

    @property
    def unknown_threshold(self) -> float | None:
        """Scores above this flag a curve as none of the classes (None: no unknown score)."""
        value = self.unknown.get("threshold") if self.unknown else None
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = self.features.to_dict()
        return data

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model card") -> ModelCard:
        required = ("name", "version", "classes", "features", "onnx_sha256")
        missing = [k for k in required if k not in data]
        if missing:
            raise ModelCardError(
                f"{source}: missing field(s) {missing}; re-export the model with "
                "`training train` (or add them)"
            )
        data = dict(data)
        data["features"] = FeatureSettings.from_dict(data["features"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelCardError(
                f"{path}: model card not found; a model directory holds {MODEL_FILE} and "
                f"{CARD_FILE} as written by `training train`"
            ) from None
        except json.JSONDecodeError as exc:
            raise ModelCardError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, source=str(path))


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model_dir(directory: str | Path, verify: bool = True) -> tuple[Path, ModelCard]:
    """(path of model.onnx, its card), checking that the card describes this very file."""
    directory = Path(directory)
    onnx_path = directory / MODEL_FILE
    if not onnx_path.is_file():
        raise ModelCardError(
            f"{directory}: no {MODEL_FILE}; pass the run directory written by `training train`"
        )
    card = ModelCard.load(directory / CARD_FILE)
    if verify and sha256_of(onnx_path) != card.onnx_sha256:
        raise ModelCardError(
            f"{onnx_path}: sha256 differs from {CARD_FILE}'s onnx_sha256; the model file was "
            "replaced or corrupted; re-export it or restore the matching card"
        )
    return onnx_path, card
