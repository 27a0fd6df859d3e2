"""In-graph summary statistics, the summary CNN's export and masks, folds, scores, truncation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from broker_plugin.features import FeatureSettings, featurise_batch
from broker_plugin.lightcurve import CLASSES, LightCurve
from training.classifier.summary import NAMES, summary_statistics
from training.crosssurvey import loso
from training.crosssurvey.truncate import first_points


def _curve(n: int, seed: int, label: str = "RRLYR", survey: str = "A", oid: str | None = None,
           band: str | None = "I") -> LightCurve:
    rng = np.random.default_rng(seed)
    time = np.sort(rng.uniform(0, 200, n))
    mag = 15 + 0.4 * np.sin(2 * np.pi * time / 0.57) + rng.normal(0, 0.02, n)
    return LightCurve(oid or f"s{seed}", time, mag, np.full(n, 0.02), band=band, label=label,
                      survey=survey)


def _stat(values: np.ndarray, name: str) -> float:
    return float(values[NAMES.index(name)])


def test_statistics_match_the_magnitudes_they_come_from() -> None:
    """Cumulative Δm gives back the magnitude distribution: moments and quantiles agree."""
    curve = _curve(120, 0)
    x = featurise_batch([curve], FeatureSettings.unfiltered()).x
    stats = summary_statistics(x)[0]
    mag = curve.mag
    centred = mag - mag.mean()
    assert _stat(stats, "log_std") == pytest.approx(np.log10(mag.std()), abs=1e-4)
    assert _stat(stats, "skewness") == pytest.approx(np.mean(centred**3) / mag.std()**3,
                                                     abs=1e-3)
    assert _stat(stats, "kurtosis") == pytest.approx(np.mean(centred**4) / mag.std()**4 - 3,
                                                     abs=1e-3)
    p5, p95 = np.quantile(mag, [0.05, 0.95], method="nearest")
    assert _stat(stats, "log_amplitude") == pytest.approx(np.log10((p95 - p5) / 2), abs=0.02)
    # Only same-night pairs exist for no curve here: 120 points over 200 days.
    assert _stat(stats, "has_night_pairs") == 1.0


def test_statistics_ignore_offsets_and_padding() -> None:
    """A magnitude offset changes nothing; a short curve is not polluted by its zero padding."""
    curve = _curve(40, 1)
    shifted = curve.with_(mag=curve.mag + 3.0)
    settings = FeatureSettings.unfiltered()
    a, b = summary_statistics(featurise_batch([curve, shifted], settings).x)
    assert np.allclose(a, b, atol=1e-4)
    short = featurise_batch([curve], FeatureSettings.unfiltered(length=300)).x
    long = featurise_batch([curve], FeatureSettings.unfiltered(length=39)).x
    assert np.allclose(summary_statistics(short), summary_statistics(long), atol=1e-4)


def test_statistics_tell_fast_from_slow_and_stay_finite() -> None:
    """Intra-night change is seen for a fast variable; empty and flat rows give finite values."""
    rng = np.random.default_rng(2)
    nights = np.repeat(np.arange(60.0), 4) + np.tile(np.arange(4) * 0.01, 60)
    fast = LightCurve("f", nights, 0.3 * np.sin(2 * np.pi * nights / 0.08), np.full(240, 0.01))
    slow = LightCurve("s", nights, 0.3 * np.sin(2 * np.pi * nights / 300) +
                      rng.normal(0, 0.001, 240), np.full(240, 0.01))
    flat = LightCurve("z", nights[:5], np.full(5, 12.0), np.full(5, 0.01))
    empty = LightCurve("e", np.array([]), np.array([]), np.array([]))
    stats = summary_statistics(featurise_batch([fast, slow, flat, empty],
                                               FeatureSettings.unfiltered()).x)
    assert np.isfinite(stats).all()
    assert _stat(stats[0], "intra_night") > 5 * _stat(stats[1], "intra_night")


def test_summary_cnn_exports_with_parity_and_masks_cover_it(tmp_path) -> None:
    """The statistics branch lives in the ONNX graph (same input) and in both masks."""
    from training.classifier.export import export_onnx, parity
    from training.classifier.masks import build_real_masks
    from training.classifier.model import VariableStarCNN

    torch.manual_seed(0)
    model = VariableStarCNN(3, length=64, n_blocks=2, summary=True)
    x = featurise_batch([_curve(50 + 5 * k, k) for k in range(6)],
                        FeatureSettings(length=64)).x
    model.summary_scaling.fit(summary_statistics(x))  # type: ignore[union-attr]
    model.eval()
    path = export_onnx(model, tmp_path / "m.onnx", 64)
    assert parity(model, path, x) < 1e-4
    masks = build_real_masks(model, 0.3)
    assert "summary_net.0.weight" in masks


def test_first_points_sorts_cleans_and_cuts() -> None:
    curve = LightCurve("a", np.array([3.0, 1.0, np.nan, 2.0, 0.5]),
                       np.array([1.0, 2.0, 3.0, np.inf, 5.0]), np.ones(5))
    cut = first_points(curve, 2)
    assert cut.time.tolist() == [0.5, 1.0] and cut.mag.tolist() == [5.0, 2.0]
    assert first_points(curve, 0).time.tolist() == [0.5, 1.0, 3.0]


def test_folds_keep_surveys_apart_and_objects_whole() -> None:
    curves = [_curve(30, k, label=CLASSES[k % 5], survey="AB"[k % 2], oid=f"o{k // 2}",
                     band="gr"[k % 2]) for k in range(40)]
    curves += [_curve(30, 99, label=None, survey="A")]  # unlabelled: never used
    folds = loso.make_folds(curves)
    assert {f.left_out for f in folds} == {"A", "B"}
    for fold in folds:
        assert all(loso.survey_of(c) != fold.left_out for c in fold.train)
        assert all(loso.survey_of(c) == fold.left_out and c.label for c in fold.test)
    capped = loso.cap_per_group([_curve(10, k, oid=f"x{k // 2}", band="gr"[k % 2])
                                 for k in range(20)], 4, seed=0)
    ids = [c.object_id for c in capped]
    assert len(capped) == 4 and all(ids.count(i) == 2 for i in ids)


def test_score_counts_other_as_a_miss_not_a_class() -> None:
    y = np.array([0, 0, 4, 4])
    other = len(CLASSES)
    result = loso.score(y, None, np.array([0, other, 4, 4]))
    # CEP: precision 1, recall 0.5 → F1 2/3; RRLYR: F1 1; OTHER does not enter the mean.
    assert result["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["recall"] == {"CEP": 0.5, "RRLYR": 1.0}
    assert result["predicted"]["OTHER"] == 1


def test_feature_forest_learns_amplitude_classes() -> None:
    """The forest separates two classes that differ in amplitude, as it must on real data."""
    from training.crosssurvey.forest import FeatureForest

    def star(k: int, label: str, amplitude: float) -> LightCurve:
        c = _curve(60, k, label=label)
        return c.with_(mag=15 + (c.mag - 15) * amplitude)

    train = [star(k, "LPV" if k % 2 else "DSCT", 10.0 if k % 2 else 0.1) for k in range(60)]
    test = [star(100 + k, "LPV" if k % 2 else "DSCT", 10.0 if k % 2 else 0.1)
            for k in range(20)]
    p = FeatureForest(CLASSES, n_estimators=50).fit(train).predict_proba(test)
    predicted = [CLASSES[i] for i in p.argmax(1)]
    assert predicted == [c.label for c in test]


def test_structure_function_sees_the_timescale_on_any_cadence() -> None:
    """Uncorrelated at lags far beyond the period, correlated at lags well within it."""
    nights = np.repeat(np.arange(80.0), 3) + np.tile([0.0, 0.02, 0.3], 80)
    rrlyr = LightCurve("r", nights, 0.4 * np.sin(2 * np.pi * nights / 0.55), np.full(240, 0.01))
    lpv = LightCurve("l", nights, 1.0 * np.sin(2 * np.pi * nights / 200.0), np.full(240, 0.01))
    stats = summary_statistics(featurise_batch([rrlyr, lpv], FeatureSettings.unfiltered()).x)
    days = NAMES.index("sf_1.5_5d")
    visit = NAMES.index("sf_0_0.04d")
    assert stats[1, days] < 0.05 < 0.5 < stats[0, days]  # LPV correlated over days, RRL not
    assert stats[0, visit] < 0.1  # 30 minutes is short even for an RR Lyrae
    assert NAMES.index("sf_over_150d") == len(NAMES) - 1
    assert stats[0, -1] == -1.0  # 80 nights: no pair 150 days apart


def test_structure_function_equals_a_pair_by_pair_reference() -> None:
    """The in-graph binning (one scatter-add) gives what a plain loop over pairs gives."""
    from training.classifier.summary import EMPTY_BIN, LAG_EDGES, PAIR_STEPS

    curves = [_curve(n, seed) for seed, n in enumerate((12, 90, 250, 400))]
    x = featurise_batch(curves, FeatureSettings.unfiltered()).x
    stats = summary_statistics(x)
    first = NAMES.index("sf_0_0.04d")
    for row, sequence in enumerate(x):
        n = int(np.count_nonzero(np.abs(sequence).sum(axis=0))) + 1
        time = np.concatenate([[0.0], np.cumsum(sequence[0, :n - 1].astype(np.float64))])
        mag = np.concatenate([[0.0], np.cumsum(sequence[1, :n - 1])])
        sums, counts = np.zeros(len(LAG_EDGES) - 1), np.zeros(len(LAG_EDGES) - 1)
        for step in (s for s in PAIR_STEPS if s < n):
            lag = (time[step:] - time[:-step]).astype(np.float32)
            bins = np.searchsorted(np.asarray(LAG_EDGES[1:-1], np.float32), lag, side="right")
            np.add.at(sums, bins, (mag[step:] - mag[:-step]) ** 2)
            np.add.at(counts, bins, 1)
        variance = np.var(mag)
        expected = np.where(counts > 0, sums / np.maximum(counts, 1) / (2 * variance + 1e-6),
                            EMPTY_BIN)
        assert np.allclose(stats[row, first:], expected, rtol=1e-3, atol=1e-4), row


def test_blend_weights_methods_on_the_same_folds() -> None:
    """A blend is the weighted mean of its parts' probabilities per fold and truncation;
    a fold one part lacks is left out, not scored on the other part alone."""
    y = np.array([0, 1])
    a = np.array([[0.9, 0.1], [0.6, 0.4]])
    b = np.array([[0.3, 0.7], [0.0, 1.0]])
    preds = [loso.Predictions("a", "S", 0, y, a, a.argmax(1)),
             loso.Predictions("b", "S", 0, y, b, b.argmax(1)),
             loso.Predictions("a", "T", 0, y, a, a.argmax(1))]
    (mixed,) = loso.blend(preds, "ab", {"a": 1.0, "b": 3.0})
    assert mixed.method == "ab" and mixed.left_out == "S"
    np.testing.assert_allclose(mixed.probabilities, (a + 3 * b) / 4)
    assert mixed.predicted.tolist() == [1, 1]


def test_over_classes_lines_a_model_up_with_ours() -> None:
    """A model's columns in its own class order come out in CLASSES order, a class the model
    lacks as zeros."""
    p = np.array([[0.7, 0.3], [0.1, 0.9]])
    out = loso.over_classes(p, ["RRLYR", "CEP"])
    assert out.shape == (2, len(CLASSES))
    np.testing.assert_allclose(out[:, CLASSES.index("RRLYR")], [0.7, 0.1])
    np.testing.assert_allclose(out[:, CLASSES.index("CEP")], [0.3, 0.9])
    assert not out[:, CLASSES.index("ECL")].any()
