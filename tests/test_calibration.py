"""Calibration, the unknown score, and an evaluation that never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from broker_plugin.lightcurve import CLASSES, LightCurve
from broker_plugin.lightcurve_dir import write_lightcurve_dir
from broker_plugin.model_card import UNKNOWN_OUTPUT_NAME, load_model_dir
from devtools.model_fixture import write_fixture_model
from training.classifier.calibrate import calibrate_on_curves
from training.classifier.calibration import fit_temperature, knn_scores, temperature_scaled
from training.classifier.metrics import (
    as_probabilities,
    expected_calibration_error,
    negative_log_likelihood,
    summary,
)

PERIOD = {"CEP": 6.0, "DSCT": 0.08, "ECL": 1.1, "LPV": 150.0, "RRLYR": 0.55}


def star(label: str | None, i: int, seed: int = 0, period: float | None = None,
         source_class: str | None = None) -> LightCurve:
    rng = np.random.default_rng(seed * 1000 + i)
    t = np.sort(rng.uniform(0, 400, 120))
    p = period or PERIOD[label or "ECL"]
    mag = 15 + 0.4 * np.sin(2 * np.pi * t / p) + rng.normal(0, 0.03, t.size)
    meta = {"source_class": source_class} if source_class else {}
    return LightCurve(f"{label or source_class}-{seed}-{i}", t, mag, np.full(t.size, 0.03),
                      label=label, survey="test", meta=meta)


def labelled(n: int, seed: int = 0) -> list[LightCurve]:
    return [star(c, i, seed) for c in CLASSES for i in range(n)]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> Path:
    """The linear fixture model with a fitted tail (bank and calibration from fake stars)."""
    root = tmp_path_factory.mktemp("calibrated")
    model = write_fixture_model(root / "raw", min_points=5)
    bank = labelled(20, seed=1)
    calibrate_on_curves(model, root / "model", labelled(12, seed=2), "fake stars",
                        bank_curves=bank)
    return root / "model"


def test_temperature_is_recovered() -> None:
    """Labels drawn from softmax(z / 2) while the model says softmax(z): T ≈ 2 is found."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 5))
    model = as_probabilities(np.exp(logits - logits.max(axis=1, keepdims=True)))
    truth = temperature_scaled(model, 2.0)
    y = (truth.cumsum(axis=1) > rng.uniform(size=(len(truth), 1))).argmax(axis=1)
    t = fit_temperature(model, y)
    assert 1.85 < t < 2.15
    assert negative_log_likelihood(y, temperature_scaled(model, t)) < negative_log_likelihood(
        y, model)
    assert expected_calibration_error(y, temperature_scaled(model, t)) < 0.02 < \
        expected_calibration_error(y, model)


def test_calibrated_graph_matches_its_card(calibrated: Path) -> None:
    """The tail is in the graph: sha256 matches, the card has both blocks, outputs agree."""
    import onnxruntime as ort

    from broker_plugin.features import featurise_batch
    from broker_plugin.serving.classifier import Classifier

    onnx_path, card = load_model_dir(calibrated)
    assert card.calibration["method"] == "temperature"
    assert card.calibration["fitted_on"]["n_curves"] == 60
    assert card.unknown["output"] == UNKNOWN_OUTPUT_NAME and card.unknown_threshold is not None
    assert {"unknown_score", "unknown_share"} <= set(card.reference["features"]) | set(
        card.reference)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities", UNKNOWN_OUTPUT_NAME]
    x = featurise_batch(labelled(3, seed=5), card.features).x
    p, scores = Classifier(calibrated).predict_scored(x)
    assert scores is not None and scores.shape == (len(x),)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert np.all((scores >= -1e-6) & (scores <= 2 + 1e-6))


def test_recalibration_replaces_the_tail(calibrated: Path, tmp_path: Path) -> None:
    """`training calibrate` twice: one tail, the bank kept, the temperature refitted."""
    import onnx
    from typer.testing import CliRunner

    from training.cli import app

    data = tmp_path / "new-survey"
    write_lightcurve_dir(data, labelled(8, seed=9))
    out = tmp_path / "again"
    result = CliRunner().invoke(app, ["calibrate", "--model", str(calibrated), "--data",
                                      str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    _, before = load_model_dir(calibrated)
    _, after = load_model_dir(out)
    assert after.onnx_sha256 != before.onnx_sha256
    assert after.calibration["fitted_on"]["source"] == str(data)
    nodes = [n.name for n in onnx.load(str(out / "model.onnx")).graph.node]
    assert nodes.count("tail/softmax") == 1
    assert after.unknown["bank_size"] == before.unknown["bank_size"]
    assert after.version == f"{before.version}-cal.{after.onnx_sha256[:8]}"


def test_calibrate_without_a_bank_says_what_to_pass(tmp_path: Path) -> None:
    """A model from before the unknown score: one line naming the way out, exit 2."""
    import subprocess
    import sys

    model = write_fixture_model(tmp_path / "raw", min_points=5)
    data = tmp_path / "d"
    write_lightcurve_dir(data, labelled(6))
    result = subprocess.run([sys.executable, "-m", "training", "calibrate", "--model",
                             str(model), "--data", str(data), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "no unknown-score bank" in result.stderr and "--bank-data" in result.stderr
    assert "Traceback" not in result.stderr


def test_knn_score_is_zero_on_bank_members_and_grows_away() -> None:
    rng = np.random.default_rng(1)
    bank = rng.normal(size=(50, 8))
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    near = knn_scores(bank[:5], bank, k=1)
    far = knn_scores(-bank[:5], bank, k=1)
    assert np.allclose(near, 0, atol=1e-9) and np.all(far > near + 0.1)


# ------------------------------------------------------------- evaluation never crashes


def test_metrics_survive_saturated_and_unnormalised_probabilities() -> None:
    """Rows of exact 0/1 (wrong with certainty), float32 sums ≠ 1, NaN: finite metrics."""
    classes = list(CLASSES)
    p = np.zeros((6, 5), np.float32)
    p[:, 0] = 1.0  # saturated, always CEP
    p[1] = np.float32([0.3, 0.3, 0.3, 0.05, 0.05000001])
    p[2] = np.nan
    y = np.array([0, 1, 2, 3, 4, 4])
    result = summary(y, p, classes)
    for key in ("macro_f1", "ece", "brier", "nll", "roc_auc_ovo"):
        assert np.isfinite(result[key]), key
    assert result["nll"] == pytest.approx(-np.log(1e-12) * 3 / 6 + (-np.log(0.3) - np.log(
        0.2)) / 6, rel=1e-3)


def test_evaluate_on_one_class_unknown_labels_and_other_data(calibrated: Path,
                                                             tmp_path: Path) -> None:
    """One class only, plus a label the model lacks; --other-data scores the unknown flag."""
    from typer.testing import CliRunner

    from training.cli import app

    data = tmp_path / "one-class"
    write_lightcurve_dir(data, [star("RRLYR", i, 3) for i in range(15)]
                         + [star("BCEP", i, 3, period=0.2) for i in range(4)])
    others = tmp_path / "others"
    write_lightcurve_dir(others, [star(None, i, 4, period=0.013 * (i + 1),
                                       source_class="RS_CVn" if i % 2 else "BE")
                                  for i in range(24)])
    report = tmp_path / "report"
    result = CliRunner().invoke(app, ["evaluate", "--model", str(calibrated), "--data",
                                      str(data), "--other-data", str(others), "--out",
                                      str(report)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["roc_auc_ovo"] is None and "only 1 class" in metrics["roc_auc_reason"]
    assert metrics["per_class"]["CEP"]["recall"] is None
    assert set(metrics["absent_classes"]) == {"CEP", "DSCT", "ECL", "LPV"}
    assert metrics["left_out"] == {"label BCEP not in model classes": 4}
    assert {"ece", "brier", "nll", "per_class", "unknown_auroc", "macro_f1"} <= set(metrics)
    unknown = metrics["unknown"]
    assert unknown["n_other"] == 24 and 0 <= unknown["auroc"] <= 1
    assert set(unknown["per_source_class"]) == {"RS_CVn", "BE"}
    assert (report / "reliability.png").stat().st_size > 1000


def test_flagged_alerts_are_unknown_in_records_and_metrics(calibrated: Path,
                                                           tmp_path: Path) -> None:
    """A threshold below every score flags every alert: class `unknown`, probabilities kept,
    `broker_plugin_unknown_total` counts them."""
    from prometheus_client import CollectorRegistry

    from broker_plugin.metrics import PluginMetrics
    from broker_plugin.serving.classifier import Classifier
    from broker_plugin.serving.pipeline import AlertPipeline
    from broker_plugin.serving.replay import iter_payloads
    from broker_plugin.serving.service import make_decoder

    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.onnx", "model_card.json"):
        (model / name).write_bytes((calibrated / name).read_bytes())
    card = json.loads((model / "model_card.json").read_text())
    card["unknown"]["threshold"] = -1.0
    (model / "model_card.json").write_text(json.dumps(card))
    data = tmp_path / "curves"
    write_lightcurve_dir(data, labelled(2, seed=7))
    payloads = [p for _, p in iter_payloads([data])]
    classifier = Classifier(model)
    outcome = AlertPipeline(make_decoder(None, None), classifier).process(payloads)
    assert len(outcome.classified) == 10
    for c in outcome.classified:
        record = c.record
        assert record["is_unknown"] and record["predicted_class"] == "unknown"
        assert record["probability"] == max(record["probabilities"].values())
        assert record["unknown_score"] > -1.0
    registry = CollectorRegistry()
    metrics = PluginMetrics(registry, classes=classifier.classes, model_version="v")
    metrics.classified(outcome.probabilities, outcome.unknown)
    assert registry.get_sample_value("broker_plugin_unknown_total",
                                     {"model_version": "v"}) == 10


def test_shift_temperature_multiplies_the_fitted_one(calibrated: Path, tmp_path: Path) -> None:
    """The recipe's factor for new surveys: same fit, temperature × factor, both in the card,
    and the graph's probabilities flatter than the in-domain calibration's."""
    from broker_plugin.features import featurise_batch
    from broker_plugin.serving.classifier import Classifier

    curves = labelled(8, seed=5)
    plain = calibrate_on_curves(calibrated, tmp_path / "plain", curves, "s")
    shifted = calibrate_on_curves(calibrated, tmp_path / "shifted", curves, "s",
                                  shift_temperature=2.0)
    assert shifted.calibration["fitted_temperature"] == pytest.approx(
        plain.calibration["temperature"])
    assert shifted.calibration["temperature"] == pytest.approx(
        2.0 * plain.calibration["temperature"])
    x = featurise_batch(curves, plain.features).x
    p_plain = Classifier(tmp_path / "plain").predict_scored(x)[0]
    p_shifted = Classifier(tmp_path / "shifted").predict_scored(x)[0]
    assert p_shifted.max(axis=1).mean() < p_plain.max(axis=1).mean()


def test_shift_temperature_out_of_range_names_the_field() -> None:
    from training.config import TrainingConfig, TrainingConfigError

    with pytest.raises(TrainingConfigError, match=r"shift_temperature=0\.0"):
        TrainingConfig(shift_temperature=0.0)


def test_calibrate_rejects_an_unknown_score_name(calibrated: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from training.cli import app

    data = tmp_path / "d"
    write_lightcurve_dir(data, labelled(4, seed=3))
    result = CliRunner().invoke(app, ["calibrate", "--model", str(calibrated), "--data",
                                      str(data), "--out", str(tmp_path / "o"),
                                      "--unknown-score", "mahalanobis"])
    assert result.exit_code == 2
    assert "use auto, forest or knn" in result.output
