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


def _tiny_config(**changes: object) -> TrainingConfig:
    return TrainingConfig(epochs=1, batch_size=16, n_blocks=2, fc_units=16,
                          synthetic_per_batch=12, num_threads=1, window_min_length=10,
                          sequence_length=64, **changes)  # type: ignore[arg-type]


def _source_at_run_length(train_curves, classes, settings, config):
    """FakeSource's curves featurised at the run's own settings (its sequence length)."""
    from broker_plugin.features import featurise_batch
    from broker_plugin.lightcurve import LightCurve
    from tests.test_training_loop import AMPLITUDES, CLASSES, PERIODS

    def source(counts, b, seed):
        rng = np.random.default_rng(seed)
        curves, labels = [], []
        for label, n in counts.items():
            for _ in range(n):
                t = np.sort(rng.uniform(0, 200, 80))
                mag = AMPLITUDES[label] * np.sin(2 * np.pi * t / PERIODS[label])
                curves.append(LightCurve("s", t, mag, np.full(80, 0.02)))
                labels.append(CLASSES.index(label))
        return featurise_batch(curves, settings).x, np.array(labels, dtype=np.int64)

    return source


def test_vary_runs_each_value_of_an_axis_in_its_own_folder(tmp_path) -> None:
    """--vary seq-length: one experiment per length, each trained at that length, and a
    vary.json with one row per value (the paper's Table 6 layout)."""
    import json

    from training.classifier.experiment import run_varied

    write_lightcurve_dir(tmp_path / "data", fake_curves(8, seed=3))
    result = run_varied(tmp_path / "data", tmp_path / "vary", _tiny_config(), "seq-length",
                        "random", 2, values=(32, 64), progress=False,
                        make_source=_source_at_run_length)
    assert [row["value"] for row in result["rows"]] == [32, 64]
    for length in (32, 64):
        saved = json.loads((tmp_path / "vary" / f"seq-length-{length}" /
                            "experiment.json").read_text())
        assert saved["config"]["sequence_length"] == length
        assert len(saved["runs"]) == 4
    assert json.loads((tmp_path / "vary" / "vary.json").read_text())["axis"] == "seq-length"


def test_snr_cut_leaves_the_quiet_curves_out_of_training(tmp_path, monkeypatch) -> None:
    """sn_ratio is the semi-amplitude over the median error; the cut shrinks the training
    pool (ECL's 0.3 mag at 0.02 mag errors is ~15, the others 30 and 45), not the test; a
    class never falls below its `keep_per_class` loudest curves (else it would vanish from
    training and the generator could not fit)."""
    from training.classifier import snr
    from training.classifier.experiment import run_varied
    from training.classifier.snr import above_snr, sn_ratio

    curves = fake_curves(8, seed=4)
    ratios = {c.label: round(sn_ratio(c)) for c in curves}
    assert 12 < ratios["ECL"] < 16 and ratios["CEP"] > 25 and ratios["RRLYR"] > 40
    assert {c.label for c in above_snr(curves, 20, keep_per_class=0)} == {"CEP", "RRLYR"}
    floored = above_snr(curves, 20, keep_per_class=3)
    ecl = [c for c in curves if c.label == "ECL"]
    loudest = sorted(ecl, key=sn_ratio, reverse=True)[:3]
    assert [c for c in floored if c.label == "ECL"] == [c for c in ecl if c in loudest]
    assert len(above_snr(curves, 20)) == len(curves)  # the default floor, 10, keeps all 8
    monkeypatch.setattr(snr, "MIN_PER_CLASS", 2)
    write_lightcurve_dir(tmp_path / "data", curves)
    result = run_varied(tmp_path / "data", tmp_path / "snr", _tiny_config(), "snr",
                        "random", 1, values=(0.0, 20.0), progress=False,
                        make_source=lambda *args: FakeSource())
    (loose,), (strict,) = (row["n_train"] for row in result["rows"])
    assert strict < loose


def test_vary_rejects_unknown_axes_and_values() -> None:
    import pytest

    from training.classifier.experiment import ExperimentError, parse_values

    assert parse_values("loss", None) == ("ce", "weighted_ce", "focal")
    assert parse_values("seq-length", "50, 150") == (50, 150)
    with pytest.raises(ExperimentError, match="unknown --vary 'depth'"):
        parse_values("depth", None)
    with pytest.raises(ExperimentError, match="not int values"):
        parse_values("seq-length", "long")


def test_a_short_sequence_axis_value_gets_the_blocks_it_can_pass_through() -> None:
    """The paper's L = 50 cannot pass 4 valid conv + pool blocks of kernel 6: its row runs
    with 3, recorded, and building the model with too many blocks is a one-line user error."""
    import pytest

    from training.classifier.experiment import overrides_for
    from training.classifier.model import ModelShapeError, VariableStarCNN, max_blocks

    assert max_blocks(50, 6) == 3 and max_blocks(300, 6) == 5
    assert overrides_for("seq-length", 50, TrainingConfig()) == {
        "sequence_length": 50, "n_blocks": 3}
    assert overrides_for("seq-length", 300, TrainingConfig())["n_blocks"] == 4
    VariableStarCNN(5, length=50, n_blocks=3)
    with pytest.raises(ModelShapeError, match="too short for 4 blocks"):
        VariableStarCNN(5, length=50, n_blocks=4)


def test_augmented_synthetic_batches_follow_the_run_sequence_length(tmp_path) -> None:
    """With augment_synthetic, the synthetic batch is re-featurised at the run's own length
    (it was the default 300, and a --vary seq-length row at 50 crashed)."""
    from training.classifier.experiment import run_varied

    write_lightcurve_dir(tmp_path / "data", fake_curves(8, seed=5))
    config = _tiny_config(augment_synthetic=True, augment_copies=1, synthetic_every=1,
                          synthetic_accuracy_trigger=0.0)
    result = run_varied(tmp_path / "data", tmp_path / "aug", config, "seq-length", "random",
                        1, values=(32,), progress=False, make_source=_source_at_run_length)
    assert result["rows"][0]["table"]["macro_f1"]["two-losses"]["n"] == 1


def test_each_mode_trains_with_its_own_tuned_config(tmp_path) -> None:
    """--one-loss-config / --two-losses-config: each mode's runs use its own settings (here
    a different number of epochs, which the runs' best_epoch cannot exceed), recorded as the
    mode's changes; a mode config featurising differently is refused before any training."""
    from dataclasses import replace

    import pytest

    from training.classifier.experiment import ExperimentError

    write_lightcurve_dir(tmp_path / "data", fake_curves(10, seed=2))
    shared = _tiny_config()
    own = {"one-loss": replace(shared, epochs=3, learning_rate=0.003),
           "two-losses": replace(shared, epochs=1)}
    result = run_experiment(tmp_path / "data", tmp_path / "exp", shared, "random", 1,
                            settings=SETTINGS, progress=False,
                            make_source=lambda *args: FakeSource(), mode_configs=own)
    assert result["mode_config_changes"]["one-loss"] == {"epochs": 3, "learning_rate": 0.003}
    assert result["mode_config_changes"]["two-losses"] == {}
    best = {r["mode"]: r["best_epoch"] for r in result["runs"]}
    assert best["two-losses"] <= 1
    with pytest.raises(ExperimentError, match="feature settings"):
        run_experiment(tmp_path / "data", tmp_path / "exp2", shared, "random", 1,
                       settings=SETTINGS, progress=False,
                       make_source=lambda *args: FakeSource(),
                       mode_configs={"one-loss": replace(shared, sequence_length=300)})
