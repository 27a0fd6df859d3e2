"""The self-regulated loop, the one-loss baseline, export parity and evaluation on tiny data."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pytest
import torch

from broker_plugin.features import FeatureSettings, featurise_batch
from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import write_lightcurve_dir
from training.classifier.data import featurise_labelled, random_windows, stratified_split
from training.config import TrainingConfig

SETTINGS = FeatureSettings(length=64)
CLASSES = ["CEP", "ECL", "RRLYR"]
PERIODS = {"CEP": 7.0, "ECL": 1.3, "RRLYR": 0.55}
AMPLITUDES = {"CEP": 0.6, "ECL": 0.3, "RRLYR": 0.9}


def fake_curves(n_per_class: int, seed: int = 0, n_points: int = 80) -> list[LightCurve]:
    """Noisy sinusoids whose period and amplitude depend on the class."""
    rng = np.random.default_rng(seed)
    curves = []
    for label in CLASSES:
        for i in range(n_per_class):
            t = np.sort(rng.uniform(0, 200, n_points))
            mag = 15 + AMPLITUDES[label] * np.sin(2 * np.pi * t / PERIODS[label])
            mag += rng.normal(0, 0.02, n_points)
            curves.append(LightCurve(f"{label}-{i}", t, mag, np.full(n_points, 0.02),
                                     label=label))
    return curves


class FakeSource:
    """A synthetic source: fresh fake curves of the requested classes, recorded calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, float]] = []

    def __call__(self, counts: Mapping[str, int], b: float, seed: int):
        self.calls.append((dict(counts), b))
        rng = np.random.default_rng(seed)
        curves, labels = [], []
        for label, n in counts.items():
            for _ in range(n):
                t = np.sort(rng.uniform(0, 200, 80))
                mag = AMPLITUDES[label] * np.sin(2 * np.pi * t / PERIODS[label] + rng.uniform())
                curves.append(LightCurve("s", t, mag, np.full(80, 0.02)))
                labels.append(CLASSES.index(label))
        return featurise_batch(curves, SETTINGS).x, np.array(labels, dtype=np.int64)


def _split(n_per_class: int = 20):
    data = featurise_labelled(fake_curves(n_per_class), CLASSES, SETTINGS)
    train_index, val_index = stratified_split(data.y, 0.25, 0)
    return data.subset(train_index), data.subset(val_index)


def _config(**changes) -> TrainingConfig:
    base = dict(epochs=2, batch_size=16, n_blocks=2, fc_units=16, synthetic_per_batch=30,
                patience=5, num_threads=1, window_min_length=10)
    base.update(changes)
    return TrainingConfig(**base)


def test_two_losses_draws_synthetic_batches_from_policy_counts() -> None:
    """Two epochs with E=1 draw two batches whose counts sum to the configured budget."""
    from training.classifier.trainer import train_classifier

    train, val = _split()
    source = FakeSource()
    result = train_classifier(train, val, _config(synthetic_every=1), source, progress=False)
    assert len(source.calls) == 2
    assert all(sum(counts.values()) == 30 for counts, _ in source.calls)
    assert result.history[0]["f1_synthetic"] is not None


def test_trigger_waits_e_epochs_without_accuracy_trigger() -> None:
    """With E=3, φ=1 (never exceeded) and 4 epochs, batches come at epochs 1 and 4."""
    from training.classifier.trainer import train_classifier

    train, val = _split(10)
    source = FakeSource()
    result = train_classifier(train, val, _config(epochs=4, synthetic_every=3,
                                                  synthetic_accuracy_trigger=1.0, patience=9),
                              source, progress=False)
    assert [h["epoch"] for h in result.history if h["new_synthetic_batch"]] == [1, 4]


def test_accuracy_trigger_fires_every_epoch_when_phi_is_zero() -> None:
    """φ = 0: any synthetic accuracy above 0 triggers a new batch every epoch."""
    from training.classifier.trainer import train_classifier

    train, val = _split(10)
    source = FakeSource()
    train_classifier(train, val, _config(epochs=3, synthetic_every=50,
                                         synthetic_accuracy_trigger=0.0, patience=9),
                     source, progress=False)
    assert len(source.calls) == 3


def test_tempering_b_follows_schedule() -> None:
    """The b passed to the source is b_f + (1 − b_f)·exp(−c·epoch)."""
    from training.classifier.trainer import train_classifier

    train, val = _split(10)
    source = FakeSource()
    train_classifier(train, val, _config(synthetic_every=1, b_final=0.5, b_decay=1.0),
                     source, progress=False)
    assert [round(b, 6) for _, b in source.calls] == [1.0, round(0.5 + 0.5 * np.exp(-1), 6)]


def test_one_loss_runs_without_source_and_learns() -> None:
    """The baseline beats chance on easy fake classes within a few epochs."""
    from training.classifier.trainer import train_classifier

    train, val = _split(30)
    result = train_classifier(train, val, _config(mode="one-loss", epochs=6, patience=9),
                              progress=False)
    assert max(h["f1_val"] for h in result.history) > 0.6


def test_early_stopping_and_best_weights_kept() -> None:
    """patience=1 stops early when val loss stops falling; kept weights score the best F1."""
    from training.classifier.trainer import train_classifier

    train, val = _split(10)
    result = train_classifier(train, val, _config(mode="one-loss", epochs=30, patience=1,
                                                  learning_rate=0.05), progress=False)
    assert result.stopped_early and len(result.history) < 30
    assert result.best_score == max(h["f1_val"] for h in result.history)


def test_export_parity_and_card(tmp_path) -> None:
    """ONNX output matches torch below 1e-4; the card holds classes, sha256 and reference."""
    from broker_plugin.model_card import load_model_dir
    from training.classifier.export import export_run
    from training.classifier.trainer import train_classifier

    train, val = _split(10)
    result = train_classifier(train, val, _config(mode="one-loss", epochs=1), progress=False)
    _, card = export_run(result.model, tmp_path, CLASSES, SETTINGS, val.batch())
    assert card.metrics["export_parity_max_abs_diff"] < 1e-4
    _onnx_path, loaded = load_model_dir(tmp_path)
    assert loaded.classes == CLASSES and loaded.reference["n_curves"] == len(val)


def test_onnx_has_dynamic_batch_and_named_io(tmp_path) -> None:
    """The exported graph takes any batch size with input 'x' and output 'probabilities'."""
    from training.classifier.export import export_onnx, onnx_probabilities
    from training.classifier.model import VariableStarCNN

    model = VariableStarCNN(3, length=64, n_blocks=2).eval()
    path = export_onnx(model, tmp_path / "m.onnx", 64)
    probabilities = onnx_probabilities(path, np.abs(np.random.default_rng(0).normal(
        size=(7, 2, 64))).astype(np.float32))
    assert probabilities.shape == (7, 3) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_ensemble_graph_averages_member_probabilities(tmp_path) -> None:
    """An ensemble exports one graph whose output is the mean of its members' outputs."""
    from training.classifier.export import export_onnx, onnx_probabilities, parity
    from training.classifier.model import VariableStarCNN

    torch.manual_seed(0)
    members = [VariableStarCNN(3, length=64, n_blocks=2).eval() for _ in range(3)]
    x = np.abs(np.random.default_rng(1).normal(size=(9, 2, 64))).astype(np.float32)
    singles = [onnx_probabilities(export_onnx(m, tmp_path / f"m{k}.onnx", 64), x)
               for k, m in enumerate(members)]
    path = export_onnx(members, tmp_path / "ensemble.onnx", 64)
    assert np.allclose(onnx_probabilities(path, x), np.mean(singles, axis=0), atol=1e-6)
    assert not np.allclose(singles[0], singles[1], atol=1e-3)  # members really differ
    assert parity(members, path, x) < 1e-5


def test_cli_ensemble_writes_every_member(curve_dir, tmp_path) -> None:
    """`--set ensemble_members=2`: one model.onnx, both members' curves and card entries."""
    from typer.testing import CliRunner

    from broker_plugin.model_card import load_model_dir
    from training.cli import app

    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--data", str(curve_dir), "--out", str(run), "--mode", "one-loss", "--quiet",
        "--set", "epochs=1", "--set", "n_blocks=2", "--set", "num_threads=1",
        "--set", "ensemble_members=2", "--set", "seed=4"])
    assert result.exit_code == 0, result.output
    for name in ("history.json", "history_member2.json", "training_curves_member2.png"):
        assert (run / name).is_file(), name
    _, card = load_model_dir(run)
    assert [m["seed"] for m in card.metrics["members"]] == [4, 5]
    assert card.metrics["export_parity_max_abs_diff"] < 1e-4


def test_random_windows_keep_contiguous_pairs_and_pad() -> None:
    """A window is a contiguous run of the original pairs, moved to the start, zero-padded."""
    x = np.zeros((1, 2, 50), np.float32)
    x[0, 0, :40] = np.arange(1, 41)
    out = random_windows(x, np.array([40]), np.random.default_rng(3), probability=1.0,
                         min_length=5)
    kept = out[0, 0][out[0, 0] > 0]
    assert 5 <= kept.size <= 40 and np.all(np.diff(kept) == 1)
    assert np.all(out[0, 0, kept.size:] == 0)


def test_log_window_widths_favour_short_histories() -> None:
    """Log-uniform widths show short windows far more often than uniform ones, in range."""
    x = np.ones((4000, 2, 300), np.float32)
    shares = {}
    for widths in ("uniform", "log"):
        out = random_windows(x, np.full(4000, 300), np.random.default_rng(0), probability=1.0,
                             min_length=20, widths=widths)
        kept = (out[:, 0] > 0).sum(axis=1)
        assert kept.min() >= 20 and kept.max() <= 300
        shares[widths] = float(np.mean(kept <= 40))
    assert shares["log"] > 2.5 * shares["uniform"]


def test_unknown_window_widths_are_a_config_error() -> None:
    from training.config import TrainingConfig, TrainingConfigError

    with pytest.raises(TrainingConfigError, match="window_widths"):
        TrainingConfig(window_widths="square")


def test_branch_dropout_drops_whole_rows_in_training_only() -> None:
    """Rows lose all their convolutional features together, and eval mode is untouched."""
    from training.classifier.model import VariableStarCNN

    torch.manual_seed(0)
    model = VariableStarCNN(3, length=60, n_blocks=2, summary=True, branch_dropout=0.5)
    x = torch.randn(256, 2, 60).abs()
    seen = []
    model.features.register_forward_hook(lambda _m, _i, out: seen.append(out))
    model.head.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    model.train()
    model(x)
    conv, joined = seen[0].flatten(1), seen[1][:, :-64]
    dropped = (joined == 0).all(dim=1)
    assert 0.3 < dropped.float().mean() < 0.7
    assert torch.allclose(joined[~dropped], conv[~dropped] * 2.0)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    assert VariableStarCNN(3, length=60, n_blocks=2, branch_dropout=0.5).branch_dropout == 0.0


def test_model_scaling_keeps_padding_zero() -> None:
    """Input scaling maps zero padding to zero (the network can tell padding from data)."""
    from training.classifier.model import InputScaling

    scaling = InputScaling()
    scaling.fit(np.ones((2, 2, 8), np.float32) * 3, np.array([8, 8]))
    assert torch.all(scaling(torch.zeros(1, 2, 8)) == 0)


@pytest.fixture
def curve_dir(tmp_path):
    write_lightcurve_dir(tmp_path / "data", fake_curves(12, seed=1))
    return tmp_path / "data"


def test_cli_one_loss_train_then_evaluate(curve_dir, tmp_path) -> None:
    """`training train --mode one-loss` then `training evaluate` write the promised files."""
    from typer.testing import CliRunner

    from training.cli import app

    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data", str(curve_dir), "--out", str(run),
                                 "--mode", "one-loss", "--quiet", "--set", "epochs=1",
                                 "--set", "n_blocks=2", "--set", "num_threads=1"])
    assert result.exit_code == 0, result.output
    for name in ("model.onnx", "model_card.json", "config.yaml", "training_curves.png",
                 "confusion_matrix.png", "metrics.json"):
        assert (run / name).is_file(), name
    report = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", "--model", str(run), "--data", str(curve_dir),
                                 "--out", str(report)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((report / "metrics.json").read_text())
    assert {"macro_f1", "roc_auc_ovo", "roc_auc_ovr", "ece"} <= set(metrics)


def test_two_losses_without_physical_parameters_says_so(curve_dir, tmp_path) -> None:
    """No physical parameters and no --generator: one line naming the way out."""
    from training.classifier.run import MissingPhysicalParametersError, train_run

    with pytest.raises(MissingPhysicalParametersError, match="one-loss"):
        train_run(curve_dir, tmp_path / "run", _config(), progress=False)


def test_generator_source_maps_generator_classes_to_trainer_classes() -> None:
    """Labels come back indexing the trainer's classes; classes it lacks are dropped."""
    from training.classifier.data import GeneratorSource

    class FakeGenerator:
        classes = ("RRLYR", "DSCT", "CEP")

        def synthetic_features(self, counts, b, n_oversampling, settings, seed=None):
            labels = np.concatenate([[self.classes.index(c)] * n * n_oversampling
                                     for c, n in counts.items()]).astype(np.int64)
            return np.zeros((labels.size, 2, settings.length), np.float32), labels

    source = GeneratorSource(FakeGenerator(), CLASSES, SETTINGS, n_oversampling=2)
    x, y = source({"CEP": 1, "ECL": 3, "RRLYR": 2}, 1.0, 0)
    assert sorted(y.tolist()) == [0, 0, 2, 2, 2, 2] and x.shape == (6, 2, 64)


def test_weight_averaging_serves_the_mean_of_the_last_epochs() -> None:
    """The mean is element-wise over float entries; BatchNorm statistics are re-estimated
    on the data pass, so they are the data's moments, not an average of stale ones."""
    from training.classifier.model import VariableStarCNN
    from training.classifier.trainer import averaged_state, refresh_batchnorm

    states = [{"w": torch.full((2,), float(k)), "n": torch.tensor(k)} for k in (1, 2, 6)]
    mean = averaged_state(states)
    assert torch.equal(mean["w"], torch.full((2,), 3.0)) and int(mean["n"]) == 6
    model = VariableStarCNN(3, length=60, n_blocks=2)
    x = torch.randn(512, 2, 60).abs() * 3
    refresh_batchnorm(model, x, batch_size=64)
    first_norm = model.features[1]
    inputs = model.features[0](model.scaling(x))
    assert torch.allclose(first_norm.running_mean, inputs.mean(dim=(0, 2)), atol=1e-4)
    assert not model.training and first_norm.momentum == 0.1


def test_weight_averaging_trains_and_reports_the_averaged_epochs() -> None:
    from training.classifier.trainer import train_classifier
    from training.config import TrainingConfig

    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(60, 2, 50))).astype(np.float32)
    y = np.arange(60) % 3
    from training.classifier.data import LabelledFeatures

    data = LabelledFeatures(x, y, np.full(60, 50), np.arange(60).astype(str),
                            ["CEP", "ECL", "RRLYR"])
    config = TrainingConfig(mode="one-loss", epochs=4, patience=10, weight_averaging=3,
                            n_blocks=2, sequence_length=50, device="cpu")
    result = train_classifier(data, data, config, progress=False)
    assert result.extra == {"averaged_epochs": 3} and result.best_epoch == 4
    assert 0.0 <= result.best_score <= 1.0


def _padded_rows(n: int, length: int, seed: int) -> np.ndarray:
    """Rows of random data followed by zero padding, lengths 0…length (ends included)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 2, length), np.float32)
    sizes = rng.integers(0, length + 1, n)
    sizes[:3] = (0, 1, length)
    for row, size in enumerate(sizes):
        x[row, 0, :size] = rng.exponential(1.0, size)
        x[row, 1, :size] = rng.normal(0.0, 0.3, size)
    return x


@pytest.mark.parametrize("cut", [1, 7, 60, 150, 300])
def test_eval_pass_over_padding_equals_the_full_pass(cut: int) -> None:
    """The eval-mode shortcut (blocks only where a row has data, a constant elsewhere) gives
    exactly what running every block over all 300 steps gives, with BN statistics that make
    the padding's constant non-trivial."""
    from training.classifier.model import VariableStarCNN

    torch.manual_seed(0)
    model = VariableStarCNN(5, summary=True)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    model.eval()
    x = torch.as_tensor(_padded_rows(16, 300, seed=cut))
    x[:, :, cut:] = 0
    with torch.no_grad():
        full = model.features(model.scaling(x)).flatten(1)
        assert torch.equal(model.convolutions(x), full)
        model.train()  # batch-statistics BN sees the padding: the plain pass, unchanged
        assert torch.equal(model.convolutions(x), model.features(model.scaling(x)).flatten(1))


def test_exported_graph_skips_padding_with_the_same_answers(tmp_path) -> None:
    """The ONNX graph cuts each run at its longest row: the same probabilities whether the
    rows run together, alone, or after the serving runner sorted them by length."""
    from training.classifier.export import export_onnx, onnx_probabilities, parity
    from training.classifier.model import VariableStarCNN

    torch.manual_seed(1)
    model = VariableStarCNN(4, summary=True).eval()
    x = _padded_rows(40, 300, seed=5)
    path = export_onnx(model, tmp_path / "m.onnx", 300)
    together = onnx_probabilities(path, x)
    alone = np.concatenate([onnx_probabilities(path, x[i:i + 1]) for i in range(len(x))])
    assert np.max(np.abs(together - alone)) < 1e-6
    assert parity(model, path, x) < 1e-5
