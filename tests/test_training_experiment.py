"""`training experiment`: both modes on the same holdouts, a Table-5 style comparison."""

from __future__ import annotations

import numpy as np

from broker_plugin.lightcurve_dir import write_lightcurve_dir
from tests.test_training_loop import SETTINGS, FakeSource, fake_curves
from training.classifier.experiment import compare, run_experiment
from training.config import TrainingConfig


def test_experiment_runs_both_modes_on_each_repeat(tmp_path) -> None:
    """Two repeats give four runs (two per mode) and a table with p-values or None."""
    write_lightcurve_dir(tmp_path / "data", fake_curves(10, seed=2))
    config = TrainingConfig(epochs=1, batch_size=16, n_blocks=2, fc_units=16,
                            synthetic_per_batch=12, num_threads=1, window_min_length=10)
    result = run_experiment(tmp_path / "data", tmp_path / "exp", config, "random", 2,
                            settings=SETTINGS, progress=False,
                            make_source=lambda *args: FakeSource())
    assert sorted((r["repeat"], r["mode"]) for r in result["runs"]) == [
        (0, "one-loss"), (0, "two-losses"), (1, "one-loss"), (1, "two-losses")]
    assert (tmp_path / "exp" / "experiment.json").is_file()
    assert set(result["table"]) == {"macro_f1", "roc_auc_ovo", "roc_auc_ovr"}


def test_compare_detects_a_clear_difference() -> None:
    """Five repeats at 0.5 vs five at 0.9 give small p-values and the right means."""
    rng = np.random.default_rng(0)
    runs = [{"mode": m, "macro_f1": v + rng.normal(0, 0.01), "roc_auc_ovo": v + rng.normal(0, 0.01),
             "roc_auc_ovr": None}
            for m, v in [("one-loss", 0.5)] * 5 + [("two-losses", 0.9)] * 5]
    table = compare(runs)
    assert table["macro_f1"]["t_test_p"] < 0.001
    assert table["macro_f1"]["mann_whitney_p"] < 0.05
    assert abs(table["macro_f1"]["two-losses"]["mean"] - 0.9) < 0.02
    assert table["roc_auc_ovr"]["one-loss"] is None
