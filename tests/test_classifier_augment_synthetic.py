"""Survey augmentation of synthetic feature batches and of validation (classifier/augment.py)."""

from __future__ import annotations

import numpy as np

from broker_plugin.features import FeatureSettings, featurise_batch
from broker_plugin.lightcurve import LightCurve
from training.classifier.augment import augment_features, augmented_validation, feature_lengths
from training.classifier.data import featurise_labelled
from training.config import TrainingConfig

SETTINGS = FeatureSettings.unfiltered(length=64)


def curve(n: int = 65, seed: int = 0, label: str = "RRLYR") -> LightCurve:
    """Several points per night, a sinusoid."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 20.0, n))
    return LightCurve(f"s{seed}", t, 15 + 0.3 * np.sin(t / 0.55), np.full(n, 0.005),
                      band="I", label=label)


def test_feature_lengths_counts_up_to_the_last_nonzero_pair() -> None:
    """Zero padding after the last pair is not counted; an all-zero row has length 0."""
    x = np.zeros((2, 2, 10), np.float32)
    x[0, 0, :7] = 1.0
    assert feature_lengths(x).tolist() == [7, 0]


def test_nightly_synthetic_rows_have_at_most_one_pair_per_night() -> None:
    """Rebuilt from features and made nightly, every Δt of an augmented row is >= 0.5 day."""
    x = featurise_batch([curve(seed=s) for s in range(8)], SETTINGS).x
    config = TrainingConfig(augment_copies=1_000, augment_nightly_probability=1.0,
                            augment_thin_probability=0.0, augment_noise_probability=0.0,
                            min_points=3)
    out = augment_features(x, config, SETTINGS, np.random.default_rng(0))
    assert out.shape == x.shape
    lengths = feature_lengths(out)
    assert (lengths < feature_lengths(x)).all()
    dt = np.concatenate([out[i, 0, : lengths[i]] for i in range(len(out))])
    assert dt.min() > 0.0 and np.median(dt) >= 0.5


def test_augment_features_off_returns_the_batch() -> None:
    """augment_copies=0 leaves synthetic batches as they are."""
    x = featurise_batch([curve(seed=s) for s in range(3)], SETTINGS).x
    out = augment_features(x, TrainingConfig(augment_copies=0), SETTINGS,
                           np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)


def test_augmented_validation_appends_one_copy_per_row() -> None:
    """Twice the rows, labels repeated in order, the originals first and unchanged."""
    curves = [curve(seed=s, label=("RRLYR", "CEP")[s % 2]) for s in range(6)]
    val = featurise_labelled(curves, ["CEP", "RRLYR"], SETTINGS)
    config = TrainingConfig(augment_thin_probability=1.0, augment_min_points=20, min_points=3)
    out = augmented_validation(val, curves, config, SETTINGS, seed=0)
    assert len(out) == 12
    np.testing.assert_array_equal(out.y, np.concatenate([val.y, val.y]))
    np.testing.assert_array_equal(out.x[:6], val.x)
    assert (out.lengths[6:] <= val.lengths).all() and (out.lengths[6:] < val.lengths).any()
