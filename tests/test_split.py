"""Induced-bias splits (Pérez-Galarce et al. 2025): Gini impurity decides train vs test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from broker_plugin.lightcurve_dir import LightCurveDirWriter, read_lightcurve_dir
from training.simulator import simulate_curves
from training.simulator.split import (
    SplitError,
    gini_impurity,
    induced_bias_split,
    write_split,
)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory) -> Path:
    """A small OGLE-like directory, 30 stars per class."""
    out = tmp_path_factory.mktemp("sim")
    writer = LightCurveDirWriter(out)
    writer.write(simulate_curves(30, "ogle", seed=21))
    writer.close()
    return out


def test_gini_impurity_values() -> None:
    """G = 0 for a certain prediction, 1 - 1/K for a uniform one."""
    g = gini_impurity(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]))
    assert g == pytest.approx([0.0, 2 / 3, 0.5])


def test_p_train_is_exp_of_minus_gini_over_t(sim_dir) -> None:
    """Every star's training probability is exp(-G/T)."""
    result = induced_bias_split(sim_dir, "multiclass", 3.0, seed=1, n_trees=25)
    m = result.manifest
    assert np.allclose(m["p_train"].to_numpy(), np.exp(-m["gini"].to_numpy() / 3.0))


def test_hard_stars_go_to_test_more_often(sim_dir) -> None:
    """Test-side stars have a higher mean Gini impurity than training-side stars."""
    result = induced_bias_split(sim_dir, "rrlyr", 1.0, seed=2, n_trees=25)
    assert result.test["gini"].mean() > result.train["gini"].mean()


def test_lower_temperature_sends_more_to_test(sim_dir) -> None:
    """T controls the shift: a colder split keeps fewer stars for training."""
    cold = induced_bias_split(sim_dir, "multiclass", 0.1, seed=3, n_trees=25)
    warm = induced_bias_split(sim_dir, "multiclass", 3.0, seed=3, n_trees=25)
    assert cold.test.height > warm.test.height


def test_split_is_seeded(sim_dir) -> None:
    """The same seed gives the same sides."""
    a = induced_bias_split(sim_dir, "rrlyr", 1.0, seed=4, n_trees=25).manifest["side"].to_list()
    b = induced_bias_split(sim_dir, "rrlyr", 1.0, seed=4, n_trees=25).manifest["side"].to_list()
    assert a == b


def test_written_split_reads_back(sim_dir, tmp_path) -> None:
    """train/ and test/ are light-curve directories covering every curve exactly once."""
    result = induced_bias_split(sim_dir, "multiclass", 3.0, seed=5, n_trees=25)
    write_split(result, sim_dir, tmp_path / "split")
    train = read_lightcurve_dir(tmp_path / "split" / "train")
    test = read_lightcurve_dir(tmp_path / "split" / "test")
    ids = sorted(c.object_id for c in train + test)
    assert ids == sorted(c.object_id for c in read_lightcurve_dir(sim_dir))
    assert "gini" in train[0].meta and train[0].params


def test_bands_of_one_object_stay_together(tmp_path) -> None:
    """All LSST bands of a star land on the same side."""
    writer = LightCurveDirWriter(tmp_path)
    writer.write(simulate_curves(8, "lsst", seed=22))
    writer.close()
    m = induced_bias_split(tmp_path, "multiclass", 0.2, seed=6, n_trees=25).manifest
    sides = m.group_by("object_id").agg(pl.col("side").n_unique().alias("n"))
    assert sides["n"].max() == 1


def test_class_table_and_tests(sim_dir) -> None:
    """Counts add up per class; Mann-Whitney rows exist for period and amplitude."""
    result = induced_bias_split(sim_dir, "multiclass", 3.0, seed=7, n_trees=25)
    counts = result.class_counts()
    assert counts["total"].to_list() == [30] * 5
    variables = {r["variable"] for r in result.mann_whitney()}
    assert variables == {"period", "amplitude"}


def test_single_class_directory_is_rejected(tmp_path) -> None:
    """The binary scenario needs RR Lyrae and others: one clear error otherwise."""
    writer = LightCurveDirWriter(tmp_path)
    writer.write(simulate_curves(5, "ogle", seed=23, classes=["CEP"]))
    writer.close()
    with pytest.raises(SplitError, match="at least two classes"):
        induced_bias_split(tmp_path, "rrlyr", 1.0, n_trees=25)
