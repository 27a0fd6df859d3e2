"""The physical-parameter transform and per-class k-NN imputation."""

from __future__ import annotations

import numpy as np

from training.generator.physical import (
    class_prior_mean,
    from_model_space,
    impute_per_class,
    to_model_space,
)


def test_transform_round_trips() -> None:
    """from_model_space inverts to_model_space (log10 on period, teff, radius only)."""
    raw = np.array([[0.55, 6500.0, -1.2, 0.6, 2.9, 0.7], [300.0, 3000.0, 0.1, -1.0, 0.2, 150.0]])
    model = to_model_space(raw)
    assert model[0, 0] == np.log10(0.55) and model[0, 2] == -1.2
    assert np.allclose(from_model_space(model), raw)


def test_non_positive_log_parameter_becomes_missing() -> None:
    """A zero radius cannot be logged: it becomes NaN to be imputed."""
    model = to_model_space(np.array([[1.0, 5000.0, 0.0, 0.0, 1.0, 0.0]]))
    assert np.isnan(model[0, 5]) and np.isfinite(model[0, :5]).all()


def test_imputation_uses_same_class_neighbours() -> None:
    """A missing value is filled from its own class, far from another class's values."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 0.1, (20, 6))
    b = rng.normal(10.0, 0.1, (20, 6))
    values = np.vstack([a, b])
    values[3, 2] = np.nan
    values[25, 4] = np.nan
    labels = np.array(["CEP"] * 20 + ["LPV"] * 20)
    filled = impute_per_class(values, labels, k=5)
    assert abs(filled[3, 2]) < 0.5
    assert abs(filled[25, 4] - 10.0) < 0.5
    assert not np.isnan(filled).any()


def test_column_missing_for_a_class_takes_the_expert_midpoint() -> None:
    """logg absent for all RRLYR rows (as in the Gaia table) falls back to the prior."""
    values = np.random.default_rng(1).normal(0.0, 0.1, (8, 6))
    values[:, 4] = np.nan
    filled = impute_per_class(values, np.array(["RRLYR"] * 8))
    assert np.allclose(filled[:, 4], class_prior_mean("RRLYR")[4])
