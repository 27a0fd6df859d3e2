"""PELS-VAE and the fitted generator on small hand-made curves (a few seconds of training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from broker_plugin.errors import UserError  # noqa: E402
from broker_plugin.features import FeatureSettings  # noqa: E402
from training.generator import GeneratorConfig, PelsGenerator  # noqa: E402
from training.generator.folding import fold_curves  # noqa: E402
from training.generator.synthesis import interpolate_periodic  # noqa: E402
from training.generator.toy import toy_curves  # noqa: E402
from training.generator.vae import CausalConv1d  # noqa: E402

# The quality tests run on the fast CPU preset that `training train --preset quick` uses.
SMALL = GeneratorConfig.quick(pool_size=5000, max_points=400)


@pytest.fixture(scope="module")
def generator() -> PelsGenerator:
    torch.set_num_threads(1)
    return PelsGenerator.fit(toy_curves(40, seed=1), SMALL, progress=False, device="cpu")


def test_causal_convolution_ignores_the_future() -> None:
    """Changing inputs after position t leaves outputs up to t unchanged."""
    conv = CausalConv1d(2, 3, kernel_size=3, dilation=4)
    x = torch.randn(1, 2, 40)
    y = x.clone()
    y[..., 25:] += 5.0
    assert torch.allclose(conv(x)[..., :25], conv(y)[..., :25])
    assert not torch.allclose(conv(x)[..., 25:], conv(y)[..., 25:])


def test_reconstruction_beats_the_mean_curve(generator: PelsGenerator) -> None:
    """Held-out reconstruction MSE is under a third of the mean-curve baseline's."""
    assert generator.metrics["vae_val_mse"] < generator.metrics["vae_baseline_mse"] / 3


def test_decoded_curves_resemble_their_own_class(generator: PelsGenerator) -> None:
    """Decoded curves of each class lie closer (MSE) to that class's real curves than to
    any other class's."""
    real = toy_curves(15, seed=11, missing_share=0.0)
    labels = np.array([c.label for c in real])
    periods = np.array([c.params["period"] for c in real])
    folded = fold_curves(real, periods, SMALL.n_phase, 1, seed=3).x
    rng = np.random.default_rng(0)
    for label in generator.classes:
        c = generator.classes.index(label)
        index, params = generator.sample_parameters({label: 20}, 1.0, rng)
        grid = generator.decode_grid(index, params)
        distance = {}
        for other in generator.classes:
            rows = folded[labels == other]
            phase = rows[:, 0]
            errors = [
                np.mean((rows[:, 1] - interpolate_periodic(grid, np.full(phase.shape, g), phase))
                        ** 2)
                for g in range(grid.shape[0])
            ]
            distance[other] = float(np.mean(errors))
        assert min(distance, key=distance.get) == label, (c, distance)


def test_regressor_beats_the_mean_latent(generator: PelsGenerator) -> None:
    """Held-out MAE of the random forest is below predicting the mean μ, and R² > 0.5."""
    assert generator.metrics["regressor_mae"] < generator.metrics["regressor_baseline_mae"]
    assert generator.metrics["regressor_r2"] > 0.5


def test_synthetic_features_pass_featuriser_invariants(generator: PelsGenerator) -> None:
    """(M, 2, 300) float32, finite, non-empty, Δt ≥ 0 where filled; labels index classes."""
    counts = {"CEP": 4, "RRLYR": 6}
    x, y = generator.synthetic_features(counts, 0.7, 3, FeatureSettings(), seed=0)
    assert x.shape == (30, 2, 300) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.shape == (30,)
    assert np.isfinite(x).all()
    assert (x[:, 0] >= 0).all()
    assert (np.abs(x).sum(axis=(1, 2)) > 0).all()
    names = [generator.classes[i] for i in y]
    assert names.count("CEP") == 12 and names.count("RRLYR") == 18


def test_seeds_reproduce_and_differ(generator: PelsGenerator) -> None:
    """Same seed gives identical features; another seed gives different ones."""
    settings = FeatureSettings()
    a, _ = generator.synthetic_features({"ECL": 3}, 1.0, 2, settings, seed=5)
    b, _ = generator.synthetic_features({"ECL": 3}, 1.0, 2, settings, seed=5)
    c, _ = generator.synthetic_features({"ECL": 3}, 1.0, 2, settings, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_curves_carry_label_and_parameters(generator: PelsGenerator) -> None:
    """Curves are time-sorted, labelled, with six finite parameters and a reference whose
    epochs and band they use."""
    curves = generator.sample_curves({"LPV": 2, "DSCT": 1}, b=0.5, seed=1)
    assert [c.label for c in curves] == ["LPV", "LPV", "DSCT"]
    refs = generator.references
    for curve in curves:
        star = np.flatnonzero(refs.object_id == curve.meta["reference"])[0]
        assert np.isin(curve.time, refs.observations(star)[0]).all()
        assert curve.band == curve.meta["reference_band"] == refs.band[star] == "I"
        assert np.all(np.diff(curve.time) >= 0)
        assert len(curve.params) == 6 and all(np.isfinite(list(curve.params.values())))
        assert curve.params["period"] > 0
        assert curve.meta["reference"].startswith(f"TOY-{curve.label}-")


def test_save_and_load_round_trip(generator: PelsGenerator, tmp_path: Path) -> None:
    """A loaded generator produces the same synthetic features for the same seed."""
    generator.save(tmp_path / "gen")
    loaded = PelsGenerator.load(tmp_path / "gen", device="cpu")
    assert loaded.classes == generator.classes
    settings = FeatureSettings()
    a, _ = generator.synthetic_features({"CEP": 2}, 0.5, 2, settings, seed=9)
    b, _ = loaded.synthetic_features({"CEP": 2}, 0.5, 2, settings, seed=9)
    assert np.allclose(a, b)


def test_unknown_class_is_a_user_error(generator: PelsGenerator) -> None:
    """Asking for a class the generator never saw is one clear error naming the classes."""
    with pytest.raises(UserError, match="knows classes"):
        generator.sample_curves({"MIRA": 1})


def test_fit_rejects_thin_classes() -> None:
    """Fewer than three usable curves in a class is a UserError before any training."""
    curves = toy_curves(2, classes=("CEP",), seed=0)
    with pytest.raises(UserError, match="at least 3"):
        PelsGenerator.fit(curves, SMALL, progress=False)


def test_loading_a_non_generator_directory_is_a_user_error(tmp_path: Path) -> None:
    """A directory without the generator files names what is missing and how to fix it."""
    with pytest.raises(UserError, match="fit-generator"):
        PelsGenerator.load(tmp_path)


def test_vae_cap_prefers_well_sampled_curves() -> None:
    """With vae_max_per_class, each class gives at most that many curves, and curves with
    at least vae_min_points points are chosen before sparser ones."""
    from training.generator.generator import vae_subset

    curves = toy_curves(10, classes=("CEP", "ECL"), seed=3, n_points=(5, 60))
    index = np.array([0] * 10 + [1] * 10)
    config = GeneratorConfig(vae_max_per_class=4, vae_min_points=30)
    rows = vae_subset(curves, index, config)
    sizes = np.array([len(c) for c in curves])
    for c in (0, 1):
        mine = rows[index[rows] == c]
        rich = int(np.sum(sizes[index == c] >= 30))
        assert mine.size == 4
        assert np.sum(sizes[mine] >= 30) == min(4, rich)
    assert np.array_equal(vae_subset(curves, index, GeneratorConfig()), np.arange(20))


def test_early_stopping_stops_on_a_stalled_validation_loss() -> None:
    """With a zero learning rate the held-out MSE never improves: training stops after
    `early_stopping_patience` stale epochs and keeps the first epoch's weights."""
    from training.generator.vae_training import fit_vae

    curves = toy_curves(6, classes=("CEP", "ECL"), seed=2, missing_share=0.0)
    periods = np.array([c.params["period"] for c in curves])
    x = fold_curves(curves, periods, 16, 2).x
    config = GeneratorConfig(n_phase=16, hidden=8, levels=2, epochs=20, learning_rate=0.0,
                             early_stopping_patience=3)
    fit = fit_vae(x, np.array([0] * 6 + [1] * 6), np.zeros((12, 6)), 2, config,
                  torch.device("cpu"), progress=False)
    assert len(fit.history) == 4 and fit.best_epoch == 0
    assert fit.val_mse == pytest.approx(fit.history[0]["val_mse"])
