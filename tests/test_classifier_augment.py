"""Survey augmentation of training curves (training/classifier/augment.py)."""

from __future__ import annotations

import numpy as np
import pytest

from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import write_lightcurve_dir
from training.classifier.augment import attach_views, augment_curve, epoch_view
from training.classifier.data import featurise_labelled
from training.classifier.run import load_training_curves
from training.config import TrainingConfig, TrainingConfigError

SETTINGS = FeatureSettings(length=64)


def curve(n: int = 400, seed: int = 0, label: str = "RRLYR", err: float = 0.005) -> LightCurve:
    """Several points per night over 200 nights, a sinusoid with small errors."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 200.0, n))
    return LightCurve(f"s{seed}", t, 15 + 0.3 * np.sin(t / 0.55), np.full(n, err),
                      band="I", label=label)


def test_nightly_keeps_at_most_one_point_per_night() -> None:
    """nightly_probability=1 leaves one point per integer night, times taken from the input."""
    c = curve()
    out = augment_curve(c, np.random.default_rng(1), 1.0, 0.0, 0.0)
    nights = np.floor(out.time)
    assert np.unique(nights).size == out.time.size == np.unique(np.floor(c.time)).size
    assert np.isin(out.time, c.time).all() and np.all(np.diff(out.time) > 0)


def test_thinning_keeps_a_sorted_subset_of_at_least_min_points() -> None:
    """thin_probability=1 keeps between min_points and n points, a subset in time order."""
    c = curve()
    sizes = []
    for seed in range(20):
        out = augment_curve(c, np.random.default_rng(seed), 0.0, 1.0, 0.0, min_points=25)
        assert 25 <= out.time.size <= c.time.size
        assert np.isin(out.time, c.time).all() and np.all(np.diff(out.time) > 0)
        sizes.append(out.time.size)
    assert min(sizes) < 100  # log-uniform sizes reach well below the original 400


def test_noise_raises_errors_to_the_drawn_level_and_adds_scatter() -> None:
    """noise_probability=1: errors never shrink, and magnitudes move by about the new error."""
    c = curve(err=0.005)
    out = augment_curve(c, np.random.default_rng(3), 0.0, 0.0, 1.0, max_error=0.2)
    assert np.all(out.err >= c.err - 1e-12)
    sigma = float(out.err[0])
    assert 0.01 <= sigma <= 0.2
    extra = np.sqrt(sigma**2 - 0.005**2)
    assert np.std(out.mag - c.mag) == pytest.approx(extra, rel=0.25)


def test_noise_leaves_already_noisy_points_alone() -> None:
    """Points whose error exceeds the drawn level keep their magnitude and error."""
    c = curve(err=0.5)
    out = augment_curve(c, np.random.default_rng(4), 0.0, 0.0, 1.0, max_error=0.2)
    np.testing.assert_array_equal(out.mag, c.mag)
    np.testing.assert_array_equal(out.err, c.err)


def test_attach_views_and_epoch_view_keep_rows_and_labels() -> None:
    """K views per row; an epoch shows each row once, as its original or one of its views."""
    curves = [curve(seed=s, label=("RRLYR", "CEP")[s % 2]) for s in range(10)]
    data = featurise_labelled(curves, ["CEP", "RRLYR"], SETTINGS)
    config = TrainingConfig(augment_copies=3, augment_thin_probability=1.0)
    attach_views(data, curves, config, SETTINGS, seed=0)
    assert data.views is not None and data.views.shape == (3, 10, 2, 64)
    x, lengths = epoch_view(data, np.random.default_rng(0))
    assert x.shape == data.x.shape and lengths.shape == data.lengths.shape
    for i in range(10):
        candidates = [data.x[i]] + [data.views[v, i] for v in range(3)]
        assert any(np.array_equal(x[i], c) for c in candidates)


def test_views_follow_subsets() -> None:
    """subset() keeps each row's views with the row."""
    curves = [curve(seed=s, label=("RRLYR", "CEP")[s % 2]) for s in range(6)]
    data = featurise_labelled(curves, ["CEP", "RRLYR"], SETTINGS)
    attach_views(data, curves, TrainingConfig(augment_copies=2), SETTINGS)
    part = data.subset(np.array([4, 1]))
    np.testing.assert_array_equal(part.views, data.views[:, [4, 1]])


def test_augment_settings_are_validated() -> None:
    """A probability outside [0, 1] or a negative copy count is a config error."""
    with pytest.raises(TrainingConfigError, match="augment_thin_probability"):
        TrainingConfig(augment_thin_probability=1.5)
    with pytest.raises(TrainingConfigError, match="augment_copies"):
        TrainingConfig(augment_copies=-1)


def test_several_data_directories_are_concatenated(tmp_path) -> None:
    """load_training_curves reads every --data directory, in order."""
    write_lightcurve_dir(tmp_path / "a", [curve(seed=0), curve(seed=1)])
    write_lightcurve_dir(tmp_path / "b", [curve(seed=2, label="CEP")])
    curves = load_training_curves([tmp_path / "a", tmp_path / "b"])
    assert [c.object_id for c in curves] == ["s0", "s1", "s2"]
