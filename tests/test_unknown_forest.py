"""The summary-statistics forest as the unknown score: ONNX parity, training, re-calibration,
serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="training needs the [train] extra")
pytest.importorskip("sklearn", reason="the forest needs the [train] extra")


def _session(model: object) -> object:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(),  # type: ignore[attr-defined]
                                providers=["CPUExecutionProvider"])


def test_forest_node_matches_scikit_learn_at_its_thresholds() -> None:
    """Inputs placed exactly on the float64 thresholds are where float32 rounding would flip
    a comparison; the graph must still agree with predict_proba."""
    from onnx import TensorProto, helper
    from sklearn.ensemble import RandomForestClassifier

    from training.classifier.tree_onnx import ML_DOMAIN, ML_OPSET, forest_node, forest_tables

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(int) + (x[:, 2] > 0.5)
    forest = RandomForestClassifier(20, min_samples_leaf=2, random_state=0).fit(x, y)
    graph = helper.make_graph(
        [forest_node(forest_tables(forest), "x", "label", "p", "forest")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 6])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [None, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid(ML_DOMAIN, ML_OPSET)])
    tree = forest.estimators_[0].tree_
    on_edges = np.tile(x[:50], (1, 1))
    split = tree.feature >= 0
    for row, (feature, threshold) in enumerate(zip(tree.feature[split], tree.threshold[split],
                                                   strict=True)):
        on_edges[row % 50, feature] = np.float32(threshold)
    probe = np.concatenate([rng.normal(size=(2000, 6)).astype(np.float32), on_edges])
    got = _session(model).run(["p"], {"x": probe})[0]  # type: ignore[attr-defined]
    assert np.max(np.abs(got - forest.predict_proba(probe))) < 1e-5


def _curve(label: str | None, source: str, k: int) -> object:
    from broker_plugin.lightcurve import LightCurve

    rng = np.random.default_rng(k)
    n = int(rng.integers(60, 121))
    t = np.sort(rng.uniform(60000, 60200, n))
    period, amplitude = {"CEP": (7.0, 0.6), "ECL": (1.3, 0.3), "RRLYR": (0.55, 0.9),
                         "OTHER": (40.0, 0.05)}[source]
    mag = 15 + amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 6))
    mag += rng.normal(0, 0.02, n)
    meta = {"source_class": "RS_CVn"} if label is None else {}
    return LightCurve(f"{source}-{k}", t, mag, np.full(n, 0.02), band="g", label=label,
                      survey="test", meta=meta)


@pytest.fixture(scope="module")
def forest_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CNN with summary statistics, trained beside catalogued stars of another class."""
    from broker_plugin.features import FeatureSettings
    from training.classifier.run import train_on_curves
    from training.config import TrainingConfig

    curves = [_curve(label, label, 100 * j + i) for j, label in
              enumerate(("CEP", "ECL", "RRLYR")) for i in range(14)]
    curves += [_curve(None, "OTHER", 1000 + i) for i in range(12)]
    config = TrainingConfig(mode="one-loss", epochs=1, n_blocks=2, fc_units=16, num_threads=1,
                            batch_size=16, min_points=10, window_min_length=10, device="cpu",
                            mixed_precision=False, validation_fraction=0.3,
                            summary_features=True, pair_filters=False,
                            model_name="forest-fixture", model_version="0.0.1")
    out = tmp_path_factory.mktemp("forest-model")
    train_on_curves(curves, ["tests/test_unknown_forest.py"], out, config,
                    settings=FeatureSettings.unfiltered(300), progress=False)
    return out


def test_training_puts_the_forest_in_the_graph_and_the_card(forest_model: Path) -> None:
    import onnx

    from broker_plugin.model_card import load_model_dir
    from broker_plugin.serving.classifier import Classifier
    from tests.cnn_fixture import sinusoid

    _, card = load_model_dir(forest_model)
    assert card.unknown["score"] == "forest_summary_statistics"
    assert card.unknown["other_class_curves"] > 0
    model = onnx.load(str(forest_model / "model.onnx"))
    assert [n.op_type for n in model.graph.node].count("TreeEnsembleClassifier") == 1
    classifier = Classifier(forest_model)
    from broker_plugin.features import featurise_batch

    x = featurise_batch([sinusoid("CEP", f"c{i}", 80, i) for i in range(8)], card.features).x
    probabilities, scores = classifier.predict_scored(x)
    assert probabilities.shape == (8, 3)
    assert scores is not None and np.all((scores >= 0) & (scores <= 1))


def test_recalibration_without_a_bank_keeps_the_forest(forest_model: Path,
                                                       tmp_path: Path) -> None:
    import onnx

    from broker_plugin.model_card import load_model_dir
    from training.classifier.calibrate import calibrate_on_curves

    curves = [_curve(label, label, 5000 + 100 * j + i) for j, label in
              enumerate(("CEP", "ECL", "RRLYR")) for i in range(10)]
    card = calibrate_on_curves(forest_model, tmp_path / "new", curves, "test survey")
    before = onnx.load(str(forest_model / "model.onnx"))
    after = onnx.load(str(tmp_path / "new" / "model.onnx"))

    def forest_of(model: onnx.ModelProto) -> bytes:
        node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
        return b"".join(a.SerializeToString() for a in node.attribute)

    assert forest_of(after) == forest_of(before)
    assert card.unknown["score"] == "forest_summary_statistics"
    assert load_model_dir(tmp_path / "new")[1].calibration["fitted_on"]["source"] == \
        "test survey"


def test_knn_score_on_request(forest_model: Path, tmp_path: Path) -> None:
    from training.classifier.calibrate import calibrate_on_curves

    curves = [_curve(label, label, 7000 + 100 * j + i) for j, label in
              enumerate(("CEP", "ECL", "RRLYR")) for i in range(10)]
    card = calibrate_on_curves(forest_model, tmp_path / "knn", curves, "test", bank_curves=curves,
                               unknown_score="knn")
    assert card.unknown["score"] == "knn_cosine_embedding"


def test_simulated_outliers_take_the_templates_cadence_and_vary_as_drawn() -> None:
    from training.classifier.outliers import damped_random_walk, simulated_outliers

    rng = np.random.default_rng(3)
    time = np.sort(rng.uniform(0, 20_000, 4000))
    walk = damped_random_walk(time, tau=20.0, sigma=0.3, rng=rng)
    assert np.std(walk) == pytest.approx(0.3, rel=0.15)
    close = np.diff(time) < 0.5
    # Correlated on lags much shorter than τ, independent on lags much longer.
    assert np.corrcoef(walk[:-1][close], walk[1:][close])[0, 1] > 0.9
    templates = [_curve("CEP", "CEP", k) for k in range(5)]
    made = simulated_outliers(templates, 40, seed=1)
    assert len(made) == 40 and all(c.label is None for c in made)
    kinds = {c.meta["source_class"] for c in made}
    assert kinds == {"simulated DRW", "simulated multi-periodic", "simulated spotted",
                     "simulated constant"}
    times = {tuple(np.round(t.time, 6)) for t in templates}
    assert all(tuple(np.round(c.time, 6)) in times for c in made)
    constant = next(c for c in made if c.meta["source_class"] == "simulated constant")
    assert np.std(constant.mag) < 0.05  # only its 0.02 mag errors


def test_multiperiodic_outliers_stay_small_and_slower_than_delta_scuti() -> None:
    """A few hundredths of a magnitude at most, and no power at δ Scuti periods (< 0.3 d)."""
    from training.classifier.outliers import MULTIPERIODIC_MAG, multiperiodic

    rng = np.random.default_rng(5)
    time = np.arange(0.0, 60.0, 0.01)
    for _ in range(20):
        signal = multiperiodic(time, rng)
        assert np.abs(signal).max() <= 4 * MULTIPERIODIC_MAG[1]
        power = np.abs(np.fft.rfft(signal)) ** 2
        frequency = np.fft.rfftfreq(time.size, d=0.01)
        assert power[frequency > 1 / 0.25].sum() < 0.01 * power.sum()


def test_spotted_rotators_dim_at_their_period_and_drift_over_spot_lifetimes() -> None:
    """One-sided (spots only dim), modulated at the rotation period, and quasi-periodic:
    the modulation of one season differs from that of a season a few spot lifetimes later."""
    from training.classifier.outliers import (
        SPOT_LIFETIME_DAYS,
        SPOTTED_DAYS,
        SPOTTED_MAG,
        spotted_rotator,
    )

    rng = np.random.default_rng(7)
    time = np.arange(0.0, 3000.0, 0.05)
    drifts = []
    for _ in range(20):
        signal = spotted_rotator(time, rng)
        assert signal.min() >= 0.0
        assert 0.0 < np.ptp(signal) < 12 * SPOTTED_MAG[1]
        power = np.abs(np.fft.rfft(signal - signal.mean())) ** 2
        frequency = np.fft.rfftfreq(time.size, d=0.05)
        peak = frequency[np.argmax(power[1:]) + 1]
        assert 1 / (1.2 * SPOTTED_DAYS[1]) <= peak <= 1.2 / SPOTTED_DAYS[0]
        season = int(SPOT_LIFETIME_DAYS[1] / 0.05)
        first, last = signal[:season], signal[-season:]
        drifts.append(abs(np.std(first) - np.std(last)) / max(np.std(first), np.std(last)))
    assert np.median(drifts) > 0.1  # amplitudes wander; a pulsator's would stay put
