"""A real, tiny CNN model directory: trained, exported and calibrated by `training` in seconds.

The linear fixture (devtools/model_fixture.py) honours the serving contract but is not what
`training train` writes. This one is: `train_on_curves` (one-loss, one epoch, two blocks,
FC 16) on a few dozen single-band noisy sinusoids of three classes, exported to ONNX with
the paper's feature settings at length 300, with the calibrated tail (temperature and
unknown score) that training attaches. Needs the `[train]` extra (torch, onnx); the
session fixture `cnn_model_dir` in conftest.py builds it once per test session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import LightCurve

CNN_CLASSES = ["CEP", "ECL", "RRLYR"]
CNN_MIN_POINTS = 10
CNN_VERSION = "0.0.1-cnn-fixture"
_PERIODS = {"CEP": 7.0, "ECL": 1.3, "RRLYR": 0.55}
_AMPLITUDES = {"CEP": 0.6, "ECL": 0.3, "RRLYR": 0.9}


def sinusoid(label: str, object_id: str, n_points: int, seed: int, band: str = "g",
             survey: str = "test") -> LightCurve:
    """A noisy sinusoid whose period and amplitude depend on the class, over 200 days."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(60000, 60200, n_points))
    mag = 15 + _AMPLITUDES[label] * np.sin(2 * np.pi * t / _PERIODS[label] + rng.uniform(0, 6))
    mag += rng.normal(0, 0.02, n_points)
    return LightCurve(object_id, t, mag, np.full(n_points, 0.02), band=band, label=label,
                      survey=survey)


def training_curves(n_per_class: int = 14, seed: int = 0) -> list[LightCurve]:
    """Single-band curves of 60 to 120 points, `n_per_class` of each of `CNN_CLASSES`."""
    rng = np.random.default_rng(seed)
    return [sinusoid(label, f"train-{label}-{i}", int(rng.integers(60, 121)),
                     seed * 10_000 + 100 * k + i)
            for k, label in enumerate(CNN_CLASSES) for i in range(n_per_class)]


def train_cnn_model(directory: Path) -> Path:
    """Train, export and calibrate the tiny CNN into `directory`; returns the model directory."""
    from training.classifier.run import train_on_curves
    from training.config import TrainingConfig

    config = TrainingConfig(mode="one-loss", epochs=1, n_blocks=2, fc_units=16, num_threads=1,
                            batch_size=16, min_points=CNN_MIN_POINTS, window_min_length=10,
                            device="cpu", mixed_precision=False, validation_fraction=0.3,
                            model_name="cnn-fixture", model_version=CNN_VERSION)
    train_on_curves(training_curves(), ["tests/cnn_fixture.py"], directory, config,
                    settings=FeatureSettings(length=300), progress=False)
    return directory
