"""Drift monitor: quiet on reference-like windows, flags cadence, depth and class-mix shifts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from broker_plugin.drift import (
    DriftMonitor,
    DriftReferenceError,
    DriftThresholds,
    js_distance,
    ks_statistic,
    psi,
    reference_statistics,
)
from broker_plugin.features import FeatureBatch, FeatureSettings, featurise_segments
from broker_plugin.model_card import ModelCard

CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")
PERIODS = np.array([5.0, 0.1, 1.3, 200.0, 0.55])
AMPLITUDES = np.array([0.6, 0.1, 0.5, 1.5, 0.8])


def simulate(
    n: int,
    seed: int,
    cadence_days: float = 1.0,
    gap_fraction: float = 0.0,
    noise_mag: float = 0.02,
    class_weights: np.ndarray | None = None,
) -> tuple[FeatureBatch, np.ndarray, np.ndarray]:
    """Toy periodic curves with a chosen cadence, noise and class mix; returns features,
    'model' probabilities (a noisy one-hot of the true class) and raw point counts."""
    rng = np.random.default_rng(seed)
    weights = np.full(len(CLASSES), 1 / len(CLASSES)) if class_weights is None else class_weights
    labels = rng.choice(len(CLASSES), size=n, p=weights)
    sizes = rng.integers(30, 350, size=n)
    steps = rng.exponential(cadence_days, size=int(sizes.sum()))
    if gap_fraction:
        steps = np.where(rng.random(steps.size) < gap_fraction, steps + 30.0, steps)
    curve = np.repeat(np.arange(n), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    cumulative = np.cumsum(steps)
    time = cumulative - np.repeat(cumulative[starts] - steps[starts], sizes)
    phase = 2 * np.pi * time / PERIODS[labels][curve]
    mag = 15 + AMPLITUDES[labels][curve] * np.sin(phase) + rng.normal(0, noise_mag, time.size)
    batch = featurise_segments(time, mag, sizes)
    logits = 3.0 * np.eye(len(CLASSES))[labels] + rng.normal(0, 1.0, (n, len(CLASSES)))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return batch, probabilities, sizes


@pytest.fixture(scope="module")
def reference() -> dict:
    batch, probabilities, sizes = simulate(2000, seed=1)
    return reference_statistics(batch, probabilities, CLASSES, points_per_band=sizes)


def monitor_after(reference: dict, window: tuple, **kwargs) -> DriftMonitor:
    monitor = DriftMonitor(reference, window=600, **kwargs)
    batch, probabilities, sizes = window
    monitor.update(batch, probabilities, points_per_band=sizes)
    return monitor


def test_reference_is_json_and_survives_the_model_card(tmp_path, reference) -> None:
    """The reference round-trips through JSON inside a saved and reloaded ModelCard."""
    card = ModelCard("m", "1", list(CLASSES), FeatureSettings(), "0" * 64, reference=reference)
    loaded = ModelCard.load(card.save(tmp_path / "card.json"))
    assert loaded.reference == json.loads(json.dumps(reference))
    assert DriftMonitor.from_card(loaded) is not None


def test_reference_bounds_its_sample(reference) -> None:
    """The KS sample is bounded whatever the training set size, and proportions sum to 1."""
    for dist in reference["features"].values():
        assert len(dist["sample"]) <= 1000
        assert math.isclose(sum(dist["proportions"]), 1.0)


def test_window_from_the_reference_is_not_flagged(reference) -> None:
    """A fresh sample of the reference population raises no flag and every PSI stays < 0.1."""
    monitor = monitor_after(reference, simulate(600, seed=2))
    assert monitor.flag == 0, monitor.drifted()
    psis = [v for (_, m), v in monitor.scores.items() if m == "psi"]
    assert psis and max(psis) < 0.1


def test_sparser_cadence_is_flagged_on_dt(reference) -> None:
    """Sparser sampling with seasonal gaps drifts the Δt quantities and raises the flag."""
    monitor = monitor_after(reference, simulate(600, seed=3, cadence_days=3.0, gap_fraction=0.1))
    drifted = {f for f, _, _ in monitor.drifted()}
    assert monitor.flag == 1
    assert {"dt_median", "dt_p90"} <= drifted


def test_fainter_objects_are_flagged_on_dm(reference) -> None:
    """Larger photometric noise (fainter objects) drifts the |Δm| quantities."""
    monitor = monitor_after(reference, simulate(600, seed=4, noise_mag=0.3))
    drifted = {f for f, _, _ in monitor.drifted()}
    assert monitor.flag == 1
    assert "abs_dm_p10" in drifted
    assert not {"dt_median", "dt_p10", "dt_p90"} & drifted


def test_class_mix_shift_is_flagged_by_js(reference) -> None:
    """A window dominated by one class moves the class-mix JS distance over its threshold."""
    weights = np.array([0.05, 0.05, 0.05, 0.05, 0.8])
    monitor = monitor_after(reference, simulate(600, seed=5, class_weights=weights))
    assert ("class_mix", "js") in {(f, m) for f, m, _ in monitor.drifted()}
    assert monitor.flag == 1


def test_thresholds_are_configurable(reference) -> None:
    """The same shifted window is not flagged under thresholds set above its scores."""
    window = simulate(600, seed=3, cadence_days=3.0, gap_fraction=0.1)
    lax = DriftThresholds(psi=1e9, ks=2.0, js=2.0)
    assert monitor_after(reference, window, thresholds=lax).flag == 0


def test_too_small_window_decides_nothing(reference) -> None:
    """Below min_window the scores are absent (NaN gauges) and the flag stays 0."""
    registry = CollectorRegistry()
    batch, probabilities, sizes = simulate(50, seed=6, noise_mag=0.5)
    monitor = DriftMonitor(reference, window=600, min_window=200, registry=registry)
    assert monitor.update(batch, probabilities, sizes) == 0
    value = registry.get_sample_value(
        "broker_plugin_drift_score", {"feature": "abs_dm_median", "method": "psi"}
    )
    assert math.isnan(value)


def test_window_slides(reference) -> None:
    """After a drifted stretch, enough reference-like curves push it out and clear the flag."""
    monitor = DriftMonitor(reference, window=400, min_window=100)
    shifted = simulate(400, seed=7, noise_mag=0.3)
    assert monitor.update(*shifted[:2], points_per_band=shifted[2]) == 1
    clean = simulate(400, seed=8)
    assert monitor.update(*clean[:2], points_per_band=clean[2]) == 0
    assert monitor.size == 400


def test_gauges_follow_the_flag(reference) -> None:
    """The drift flag gauge and window size gauge reflect the monitor's state."""
    registry = CollectorRegistry()
    window = simulate(600, seed=4, noise_mag=0.3)
    monitor = DriftMonitor(reference, window=600, registry=registry)
    monitor.update(*window[:2], points_per_band=window[2])
    assert registry.get_sample_value("broker_plugin_drift_flag") == 1.0
    assert registry.get_sample_value("broker_plugin_drift_window_curves") == 600.0
    assert registry.get_sample_value("broker_plugin_drift_threshold", {"method": "psi"}) == 0.25


def test_empty_curves_are_ignored(reference) -> None:
    """Curves with no usable pair do not enter the window."""
    batch, probabilities, _ = simulate(10, seed=9)
    empty = FeatureBatch(x=np.zeros_like(batch.x), lengths=np.zeros(10, dtype=np.int64))
    monitor = DriftMonitor(reference, window=100)
    monitor.update(empty, probabilities)
    assert monitor.size == 0


def test_reference_missing_fields_is_a_user_error() -> None:
    """A reference without class_mix is rejected at start-up with the field named."""
    with pytest.raises(DriftReferenceError, match="class_mix"):
        DriftMonitor({"classes": ["A"], "features": {}})


def test_psi_is_zero_for_identical_and_grows_with_shift() -> None:
    """PSI is 0 for equal proportions and positive for different ones."""
    p = np.array([0.25, 0.25, 0.5])
    assert psi(p, p) == 0.0
    assert psi(p, np.array([0.5, 0.25, 0.25])) > 0.1


def test_ks_statistic_matches_scipy() -> None:
    """The two-sample KS statistic equals scipy.stats.ks_2samp's."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=200)
    assert math.isclose(ks_statistic(a, b), stats.ks_2samp(a, b).statistic, abs_tol=1e-12)


def test_js_distance_bounds() -> None:
    """JS distance is 0 for equal mixes and 1 for disjoint ones (base 2)."""
    assert js_distance(np.array([1, 1.0]), np.array([2, 2.0])) == 0.0
    assert math.isclose(js_distance(np.array([1.0, 0]), np.array([0, 1.0])), 1.0)
