"""One path from light curves to probabilities for training, evaluation and serving.

`broker_plugin.model_inputs` holds the short-curve rule (at least `min_points − 1` usable
(Δt, Δm) pairs after the feature filters) and the model inputs; serving's `Classifier` is the
one runner (`training.classifier.export.onnx_probabilities` wraps it). The end-to-end tests
use a real CNN trained and exported by `training` once per session (tests/cnn_fixture.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from broker_plugin.features import FeatureSettings, featurise, featurise_segments
from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import write_lightcurve_dir
from broker_plugin.model_card import MODEL_FILE, load_model_dir
from broker_plugin.model_inputs import (
    classifiable,
    curve_inputs,
    graph_classifier,
    min_pairs,
    segment_inputs,
)
from broker_plugin.serving.classifier import Classifier
from tests.cnn_fixture import CNN_CLASSES, CNN_MIN_POINTS, CNN_VERSION, sinusoid

#: How close `evaluate` and `classify` must be (see the identical-probabilities test).
PROBABILITY_BOUND = 1e-6


def test_the_rule_counts_usable_pairs_after_the_filters() -> None:
    """min_points counts usable points: min_points − 1 pairs, never fewer than one pair."""
    assert [min_pairs(m) for m in (0, 1, 2, 3, 10)] == [1, 1, 1, 2, 9]
    assert classifiable(np.array([0, 1, 8, 9, 300]), 10).tolist() == [False, False, False,
                                                                       True, True]
    assert classifiable(np.array([0, 1]), 2).tolist() == [False, True]


def test_segment_inputs_equal_featurising_everything_then_applying_the_rule() -> None:
    """Skipping bands with too few raw points before featurising changes nothing: the same
    rows, bit-identical sequences, whatever the sizes (0, 1, short, long, non-finite)."""
    rng = np.random.default_rng(3)
    sizes = np.array([0, 1, 2, 5, 9, 10, 11, 12, 13, 15, 40, 400, 7, 14])
    time = np.concatenate([np.sort(rng.uniform(0, 300, n)) for n in sizes])
    mag = 15 + rng.normal(0, 0.3, time.size)
    mag[rng.random(time.size) < 0.05] = np.nan
    settings = FeatureSettings(length=300)
    for min_points in (1, 2, 5, 10, 14):
        inputs = segment_inputs(time, mag, sizes, settings, min_points)
        everything = featurise_segments(time, mag, sizes, settings)
        passing = np.flatnonzero(everything.lengths >= max(min_points - 1, 1))
        assert inputs.rows.tolist() == passing.tolist()
        assert np.array_equal(inputs.features.x, everything.x[passing])
        assert np.array_equal(inputs.features.lengths, everything.lengths[passing])
        assert inputs.too_short.tolist() == [i not in passing for i in range(sizes.size)]


# ------------------------------------------------------------------ with the real CNN


def test_graph_classifier_is_serving_classifier_on_a_bare_graph(cnn_model_dir: Path,
                                                                 tmp_path: Path) -> None:
    """A graph without its card gives the probabilities the model directory gives."""
    x = np.abs(np.random.default_rng(0).normal(size=(7, 2, 300))).astype(np.float32)
    bare = tmp_path / "bare.onnx"
    bare.write_bytes((cnn_model_dir / MODEL_FILE).read_bytes())
    runner = graph_classifier(bare)
    served = Classifier(cnn_model_dir)
    assert len(runner.classes) == len(served.classes)
    assert runner.unknown_threshold is None  # probabilities only, like the bare graph's user
    assert np.array_equal(runner.predict(x), served.predict(x))
    assert runner.predict(x[:0]).shape == (0, len(runner.classes))


def boundary_curves(min_points: int) -> tuple[LightCurve, LightCurve]:
    """(exactly min_points − 1 usable pairs, one pair fewer): single-band, labelled curves."""
    want = min_pairs(min_points)
    found: dict[int, LightCurve] = {}
    for n_points in range(want, want + 20):
        for seed in range(50):
            curve = sinusoid("RRLYR", f"edge-{n_points}-{seed}", n_points, 500 + seed)
            length = int(featurise(curve, FeatureSettings(length=300)).lengths[0])
            if length in (want, want - 1) and length not in found:
                found[length] = curve
        if len(found) == 2:
            break
    return found[want], found[want - 1]


def evaluation_set() -> tuple[list[LightCurve], LightCurve, LightCurve]:
    """Single-band curves of every class and length (one longer than the 300-pair window),
    plus the two boundary curves."""
    rng = np.random.default_rng(11)
    curves = [sinusoid(label, f"eval-{label}-{i}", int(rng.integers(15, 150)), 900 + 10 * k + i)
              for k, label in enumerate(CNN_CLASSES) for i in range(4)]
    curves.append(sinusoid("CEP", "eval-long", 420, 77))
    at_edge, below_edge = boundary_curves(CNN_MIN_POINTS)
    return [*curves, at_edge, below_edge], at_edge, below_edge


def test_evaluate_and_classify_give_identical_probabilities(cnn_model_dir: Path,
                                                            tmp_path: Path) -> None:
    """`training evaluate` and `broker-plugin classify` on the same single-band light-curve
    directory: the same objects are scored, with the same probabilities and unknown scores;
    the curve with exactly min_points − 1 usable pairs is scored by both, the curve with one
    pair fewer is left out by evaluate and rejected as too_few_points by classify.

    Bound 1e-6, not equality: the record's combined distribution is the band's renormalised
    in float64 (p / Σp, where the float32 softmax sums to 1 within a few float32 ulps, so it
    moves by < 1e-6), and onnxruntime may block a batch of another size differently (float32
    last-bit differences, ~1e-7). A different featurisation or rule would differ by far more.
    """
    from broker_plugin.serving.replay import classify_files
    from training.classifier.data import load_curves
    from training.classifier.evaluate import evaluate_curves

    curves, at_edge, below_edge = evaluation_set()
    data_dir = tmp_path / "curves"
    write_lightcurve_dir(data_dir, curves)

    result = evaluate_curves(cnn_model_dir, load_curves(data_dir), predictions=True)
    summary = classify_files([data_dir], cnn_model_dir, tmp_path / "out.jsonl")

    evaluated = {p["object_id"]: p for p in result["predictions"]}
    records = {r["object_id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text()
                                              .splitlines())}
    rejects = [json.loads(line) for line in
               (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    expected = {c.object_id for c in curves} - {below_edge.object_id}
    assert set(evaluated) == set(records) == expected
    assert at_edge.object_id in records
    assert summary.classified == len(expected) and summary.rejected == 1
    assert sum(result["left_out"].values()) == 1
    assert [r["reason"] for r in rejects] == ["too_few_points"]
    assert rejects[0]["origin"].endswith(f"#{below_edge.object_id}")
    assert f"'g': {len(below_edge)}" in rejects[0]["message"]  # how many points the band had

    for object_id, mine in evaluated.items():
        record = records[object_id]
        (band,) = record["bands"]
        assert band["points"] == record["points_per_band"]["g"] == len(
            next(c for c in curves if c.object_id == object_id))
        ours = np.array([mine["probabilities"][c] for c in CNN_CLASSES])
        for served in (band["probabilities"], record["probabilities"]):
            theirs = np.array([served[c] for c in CNN_CLASSES])
            assert np.max(np.abs(ours - theirs)) <= PROBABILITY_BOUND, object_id
        assert band["predicted_class"] == CNN_CLASSES[int(ours.argmax())]
        assert mine["unknown_score"] is not None and record["unknown_score"] is not None
        assert abs(mine["unknown_score"] - record["unknown_score"]) <= PROBABILITY_BOUND


def test_onnx_probabilities_is_the_serving_runner(cnn_model_dir: Path) -> None:
    """Training's onnx_probabilities (export parity, drift reference, validation metrics)
    returns what serving's Classifier returns for the same inputs."""
    pytest.importorskip("torch")
    from training.classifier.export import onnx_probabilities

    onnx_path, card = load_model_dir(cnn_model_dir)
    curves, _, _ = evaluation_set()
    inputs = curve_inputs(curves, card.features, card.min_points)
    served = Classifier(cnn_model_dir).predict(inputs.features.x)
    assert np.max(np.abs(onnx_probabilities(onnx_path, inputs.features.x) - served)) <= 1e-6


def test_alert_pipeline_serves_the_trained_cnn(cnn_model_dir: Path) -> None:
    """decode → features → CNN → records on compact alerts of two-band light curves: one
    record per object, distributions summing to 1, an unknown score from the calibrated
    tail, and the card's name and version on every record."""
    from broker_plugin.serving.pipeline import AlertPipeline
    from broker_plugin.serving.produce import curves_by_object, encode_compact_container
    from broker_plugin.serving.service import make_decoder
    _, card = load_model_dir(cnn_model_dir)
    curves = [sinusoid(label, f"star-{label}-{i}", 40 + 7 * i, 300 + 10 * k + i, band=band)
              for k, label in enumerate(CNN_CLASSES) for i in range(3) for band in ("g", "r")]
    payloads = [encode_compact_container(object_id, bands)
                for object_id, bands in curves_by_object(curves).items()]
    pipeline = AlertPipeline(make_decoder(None, None), Classifier(cnn_model_dir))
    outcome = pipeline.process(payloads)

    assert outcome.rejected == []
    records = [c.record for c in outcome.classified]
    assert sorted(r["object_id"] for r in records) == sorted({c.object_id for c in curves})
    assert card.version == CNN_VERSION
    for record in records:
        assert record["classifier"] == card.name
        assert record["classifier_version"] == card.version
        assert record["classes"] == CNN_CLASSES
        assert abs(sum(record["probabilities"].values()) - 1) < 1e-6
        assert record["unknown_score"] is not None and np.isfinite(record["unknown_score"])
        assert record["predicted_class"] in [*CNN_CLASSES, "unknown"]
        assert {b["band"] for b in record["bands"]} <= {"g", "r"}
        for band in record["bands"]:
            assert abs(sum(band["probabilities"].values()) - 1) < 1e-5
    assert outcome.band_unknown_scores is not None
    assert len(outcome.band_unknown_scores) == len(outcome.features)


def test_overlapped_pipeline_answers_as_one_piece(cnn_model_dir: Path) -> None:
    """A batch split into chunks (inference in a worker thread while the next chunk
    decodes) gives the same records, rejections, features and probabilities, in the same
    input order, as the batch run in one piece; bad payloads between good ones keep their
    batch positions."""
    from broker_plugin.serving.pipeline import AlertPipeline
    from broker_plugin.serving.produce import curves_by_object, encode_compact_container
    from broker_plugin.serving.service import make_decoder

    curves = [sinusoid(label, f"star-{label}-{i}", 30 + 3 * i, 200 + 10 * k + i, band=band)
              for k, label in enumerate(CNN_CLASSES) for i in range(9) for band in ("g", "r")]
    good = [encode_compact_container(object_id, bands)
            for object_id, bands in curves_by_object(curves).items()]
    payloads: list[bytes] = []
    for i, payload in enumerate(good):
        payloads.append(payload)
        if i % 7 == 3:
            payloads.append(b"\x00not an alert" + bytes([i]))
    ingest = list(range(1_000, 1_000 + len(payloads)))
    classifier = Classifier(cnn_model_dir)
    whole = AlertPipeline(make_decoder(None, None), classifier, overlap_chunk=0)
    chunked = AlertPipeline(make_decoder(None, None), classifier, overlap_chunk=4)
    one = whole.process(payloads, ingest)
    many = chunked.process(payloads, ingest)

    # onnxruntime's sums may differ in the last bits with the batch size: numbers compared
    # to 1e-6 below, everything else exactly.
    numeric = {"publish_time_ms", "probabilities", "probability", "bands", "unknown_score"}

    def comparable(outcome):
        return [(c.index, c.key, {k: v for k, v in c.record.items() if k not in numeric},
                 [(b["band"], b["points"]) for b in c.record["bands"]])
                for c in outcome.classified]

    def scores(outcome):
        return [c.record["unknown_score"] for c in outcome.classified]

    assert len(payloads) >= 6 * 4 and len(one.rejected) >= 3
    assert comparable(many) == comparable(one)
    assert [(r.index, r.reason) for r in many.rejected] == [
        (r.index, r.reason) for r in one.rejected]
    np.testing.assert_array_equal(many.features.x, one.features.x)
    np.testing.assert_allclose(many.probabilities, one.probabilities, atol=1e-6)
    np.testing.assert_allclose(scores(many), scores(one), atol=1e-6)
    np.testing.assert_array_equal(many.unknown, one.unknown)
    assert many.predicted == one.predicted
    assert set(many.times.seconds) >= {"decode", "features", "inference", "build"}


def test_runs_in_length_order_answer_in_input_order(cnn_model_dir: Path) -> None:
    """The runner sorts rows by data length into small runs; answers come back in the order
    of the input, equal to classifying each row on its own."""
    from broker_plugin.serving.classifier import data_lengths

    _, card = load_model_dir(cnn_model_dir)
    curves, _, _ = evaluation_set()
    x = curve_inputs(curves, card.features, card.min_points).features.x
    x = x[np.random.default_rng(0).permutation(len(x))]
    lengths = data_lengths(x)
    assert len(np.unique(lengths)) > 3  # the set really mixes lengths
    classifier = Classifier(cnn_model_dir)
    batched, batched_scores = classifier.predict_scored(x, chunk=4)
    single = [classifier.predict_scored(x[i:i + 1]) for i in range(len(x))]
    assert np.max(np.abs(batched - np.concatenate([s[0] for s in single]))) <= 1e-6
    if batched_scores is not None:
        assert np.max(np.abs(batched_scores - np.concatenate([s[1] for s in single]))) <= 1e-6
