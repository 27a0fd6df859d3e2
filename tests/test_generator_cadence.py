"""Synthetic cadence looks like the survey's: Δt of synthetic curves vs real ones.

The classifier must not be able to tell synthetic from real curves by Δt alone, so the
synthetic (Δt, Δm) sequences' Δt must follow the reference class's real Δt distribution,
seasonal gaps included. The old scheme (epochs uniform over the span) is the foil.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from broker_plugin.features import FeatureSettings, featurise_batch, featurise_segments
from broker_plugin.lightcurve import LightCurve
from training.generator.references import ReferenceSet
from training.generator.synthesis import SyntheticBatch, unfold

N_SYNTHETIC = 1500


@pytest.fixture(scope="module")
def survey() -> tuple[list[LightCurve], ReferenceSet]:
    """Simulated LSST-like curves (nightly pairs, seasons, six bands) as references."""
    from training.simulator import simulate_curves

    curves = simulate_curves(30, cadence="lsst", seed=3, classes=("RRLYR", "LPV"))
    labels = np.array([c.label for c in curves])
    periods = np.array([c.params["period"] for c in curves])
    return curves, ReferenceSet.build(curves, (labels == "LPV").astype(np.int64), periods)


def _synthesise(refs: ReferenceSet, class_index: int, seed: int) -> SyntheticBatch:
    """Synthetic curves of one class with periods near their references' (as sampled)."""
    rng = np.random.default_rng(seed)
    log_period = rng.choice(refs.log_period[refs.class_index == class_index], N_SYNTHETIC)
    log_period = log_period + rng.normal(0.0, 0.03, N_SYNTHETIC)
    reference = refs.nearest(np.full(N_SYNTHETIC, class_index), log_period)
    grid = np.tile(0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(64) + 0.5) / 64), (N_SYNTHETIC, 1))
    return unfold(grid, 10**log_period, reference, refs, rng, max_points=1000)


def _dt(x: np.ndarray) -> np.ndarray:
    """The Δt channel's filled entries of (N, 2, L) features."""
    dt = x[:, 0]
    return dt[dt > 0]


@pytest.mark.parametrize("label", ["RRLYR", "LPV"])
def test_synthetic_dt_follows_the_real_cadence(
    survey: tuple[list[LightCurve], ReferenceSet], label: str
) -> None:
    """Featurised Δt of synthetic curves matches the class's real Δt (KS < 0.05), and far
    better than epochs spread uniformly over the same spans (the old scheme)."""
    curves, refs = survey
    settings = FeatureSettings()
    class_index = int(label == "LPV")
    real = _dt(featurise_batch([c for c in curves if c.label == label], settings).x)
    batch = _synthesise(refs, class_index, seed=1)
    synthetic = _dt(featurise_segments(batch.time, batch.mag, batch.sizes, settings).x)

    # The old scheme: as many epochs, uniform over each synthetic curve's span.
    rng = np.random.default_rng(2)
    owner = np.repeat(np.arange(batch.sizes.size), batch.sizes)
    first = batch.time[batch.starts]
    spans = batch.time[batch.starts + batch.sizes - 1] - first
    uniform_time = first[owner] + rng.uniform(0.0, 1.0, owner.size) * spans[owner]
    uniform_time = uniform_time[np.lexsort((uniform_time, owner))]
    uniform = _dt(featurise_segments(uniform_time, batch.mag, batch.sizes, settings).x)

    ks_synthetic = stats.ks_2samp(synthetic, real).statistic
    ks_uniform = stats.ks_2samp(uniform, real).statistic
    assert ks_synthetic < 0.05, ks_synthetic
    assert ks_synthetic < ks_uniform / 4, (ks_synthetic, ks_uniform)


def test_seasonal_gaps_appear_when_references_have_them(
    survey: tuple[list[LightCurve], ReferenceSet],
) -> None:
    """Real LSST-like curves have gaps over 100 d between seasons; synthetic curves spanning
    more than a year show them too, about as often per observation as the real curves."""
    curves, refs = survey
    real_gaps = np.concatenate([np.diff(np.sort(c.time)) for c in curves])
    assert np.mean(real_gaps > 100) > 0.005  # the references do have seasons
    batch = _synthesise(refs, 0, seed=4)
    ends = batch.starts + batch.sizes - 1
    long = (batch.time[ends] - batch.time[batch.starts]) > 400
    assert long.sum() > 100
    gaps = np.diff(batch.time)
    same_curve = np.ones(gaps.size, dtype=bool)
    same_curve[ends[:-1]] = False  # a difference across two curves is no gap
    owner = np.repeat(np.arange(batch.sizes.size), batch.sizes)[:-1]
    has_gap = np.zeros(batch.sizes.size, dtype=bool)
    np.logical_or.at(has_gap, owner[same_curve], gaps[same_curve] > 100)
    assert has_gap[long].mean() > 0.95
    synthetic_share = np.mean(gaps[same_curve] > 100)
    assert 0.5 < synthetic_share / np.mean(real_gaps > 100) < 2.0
