"""Vectorised unfolding, windows, interpolation and reference choice (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from broker_plugin.lightcurve import LightCurve
from training.generator.folding import fold_curves, phase_grid
from training.generator.references import ReferenceSet
from training.generator.synthesis import interpolate_periodic, unfold, window_index
from training.generator.toy import toy_curves


@pytest.fixture(scope="module")
def references() -> ReferenceSet:
    curves = toy_curves(6, classes=("CEP", "RRLYR"), seed=4)
    index = np.array([0] * 6 + [1] * 6)
    periods = np.array([c.params["period"] for c in curves])
    return ReferenceSet.build(curves, index, periods)


def test_interpolation_is_exact_on_grid_and_wraps() -> None:
    """Grid centres return grid values; phase 0 lies halfway between the last and first."""
    grid = np.array([[0.0, 1.0, 2.0, 3.0]])
    centres = (np.arange(4) + 0.5) / 4
    rows = np.zeros(4, dtype=np.int64)
    assert np.allclose(interpolate_periodic(grid, rows, centres), grid[0])
    assert interpolate_periodic(grid, rows[:1], np.array([0.0]))[0] == pytest.approx(1.5)


def test_nearest_reference_is_same_class_nearest_period(references: ReferenceSet) -> None:
    """Queries pick the same-class star whose log period is closest."""
    queries = np.array([0, 1, 1])
    log_p = np.array([references.log_period[2] + 1e-3, references.log_period[8] - 1e-3, 5.0])
    chosen = references.nearest(queries, log_p)
    assert chosen[0] == 2 and chosen[1] == 8
    rr = np.flatnonzero(references.class_index == 1)
    assert chosen[2] == rr[np.argmax(references.log_period[rr])]


def _cosine_grid(n: int, n_phase: int = 40) -> np.ndarray:
    return np.tile(0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(n_phase) + 0.5) / n_phase), (n, 1))


def test_unfolded_curves_follow_their_reference(references: ReferenceSet) -> None:
    """Sizes within the reference and the cap, time order, magnitudes in its range."""
    rng = np.random.default_rng(0)
    reference = np.array([0, 7, 11])
    period = 10 ** references.log_period[reference]
    batch = unfold(_cosine_grid(3), period, reference, references, rng, max_points=150)
    assert (batch.sizes >= 1).all()
    assert (batch.sizes <= np.minimum(references.n_points[reference], 150)).all()
    for i, start in enumerate(batch.starts):
        t = batch.time[start : start + batch.sizes[i]]
        m = batch.mag[start : start + batch.sizes[i]]
        ref = reference[i]
        assert np.all(np.diff(t) >= 0)
        assert t.max() - t.min() <= max(references.baseline[ref], period[i]) + 1e-9
        spread = references.mag_high[ref] - references.mag_low[ref]
        assert m.min() > references.mag_low[ref] - 0.2 * spread
        assert m.max() < references.mag_high[ref] + 0.2 * spread


def test_synthetic_epochs_are_a_contiguous_run_of_the_reference_epochs(
    references: ReferenceSet,
) -> None:
    """Each curve's times are consecutive observations of its reference star, with the
    star's own error at each of them, spanning at most k periods (1 <= k <= baseline/P),
    and at least min_points of them."""
    rng = np.random.default_rng(3)
    reference = np.repeat(np.arange(len(references)), 5)
    period = 10 ** references.log_period[reference]
    batch = unfold(_cosine_grid(reference.size), period, reference, references, rng, 10_000,
                   min_points=30)
    assert (batch.sizes >= 30).all()
    assert (batch.sizes < references.n_points[reference]).any()
    for i, start in enumerate(batch.starts):
        own_time, own_err = references.observations(reference[i])
        t = batch.time[start : start + batch.sizes[i]]
        first = int(np.searchsorted(own_time, t[0]))
        assert np.array_equal(t, own_time[first : first + t.size])
        assert np.array_equal(batch.err[start : start + t.size],
                              own_err[first : first + t.size].astype(np.float64))
        assert 1.0 <= batch.cycles[i] <= max(1.0, references.baseline[reference[i]] / period[i])
        assert t[-1] - t[0] <= batch.cycles[i] * period[i] + 1e-9


def test_windows_widen_to_min_points_on_sparse_stars() -> None:
    """A star observed in two 20-night runs 1000 d apart: short windows hold a few epochs
    unless widened to min_points consecutive epochs (all 40 when min_points exceeds them)."""
    time = np.concatenate([np.arange(20.0), 1000.0 + np.arange(20.0)])
    star = LightCurve("S", time, np.sin(time), np.full(40, 0.01), label="CEP",
                      params={"period": 30.0})
    refs = ReferenceSet.build([star], np.array([0]), np.array([30.0]))
    reference = np.zeros(300, dtype=np.int64)
    period = np.full(300, 30.0)

    def sizes(min_points: int) -> np.ndarray:
        return unfold(_cosine_grid(300), period, reference, refs, np.random.default_rng(6),
                      10_000, min_points=min_points).sizes

    assert (sizes(1) < 25).any()
    assert (sizes(25) >= 25).all()
    assert (sizes(100) == 40).all()


def test_full_window_uses_every_kept_epoch(references: ReferenceSet) -> None:
    """cadence window "full" observes the synthetic curve at all of the reference's epochs."""
    reference = np.array([1, 9])
    batch = unfold(_cosine_grid(2), np.array([0.5, 0.7]), reference, references,
                   np.random.default_rng(2), 10_000, window="full")
    assert np.array_equal(batch.sizes, references.n_points[reference])
    assert np.array_equal(batch.time[: batch.sizes[0]], references.observations(1)[0])


def test_references_keep_the_most_recent_points() -> None:
    """A star with more than max_points observations keeps its last max_points, in order."""
    curves = toy_curves(3, classes=("CEP",), seed=2, n_points=(200, 201))
    periods = np.array([c.params["period"] for c in curves])
    refs = ReferenceSet.build(curves, np.zeros(3, dtype=np.int64), periods, max_points=50)
    assert np.array_equal(refs.n_points, [50, 50, 50])
    for i, curve in enumerate(curves):
        assert np.array_equal(refs.observations(i)[0], np.sort(curve.time)[-50:])
    again = ReferenceSet.from_arrays(refs.to_arrays())
    assert np.array_equal(again.time, refs.time) and again.err.dtype == np.float32


def test_noise_is_zero_mean_with_the_reference_errors(references: ReferenceSet) -> None:
    """On a flat decoded curve, residuals / reference errors are standard normal."""
    from scipy import stats

    reference = np.repeat(np.arange(len(references)), 40)
    batch = unfold(np.full((reference.size, 16), 0.5), np.full(reference.size, 1.0),
                   reference, references, np.random.default_rng(1), max_points=500)
    owner = np.repeat(reference, batch.sizes)
    middle = 0.5 * (references.mag_low[owner] + references.mag_high[owner])
    pulls = (batch.mag - middle) / batch.err
    assert abs(pulls.mean()) < 0.05 and abs(pulls.std() - 1.0) < 0.05
    assert stats.kstest(pulls, "norm").statistic < 0.02


def test_windows_are_contiguous_blocks_inside_their_curve() -> None:
    """Each window is consecutive indices within its own curve, width capped by the curve."""
    sizes = np.array([10, 3, 7])
    starts = np.array([0, 10, 13])
    index, window_sizes = window_index(sizes, starts, 4, 5, np.random.default_rng(2))
    assert np.array_equal(window_sizes, np.repeat([5, 3, 5], 4))
    offset = 0
    for w, size in enumerate(window_sizes):
        block = index[offset : offset + size]
        curve = w // 4
        assert np.all(np.diff(block) == 1)
        assert starts[curve] <= block[0] and block[-1] < starts[curve] + sizes[curve]
        offset += size


def test_folding_aligns_minimum_light_at_half_phase() -> None:
    """After folding, the faintest part of a toy eclipsing binary sits near phase 0.5."""
    curves = toy_curves(4, classes=("ECL",), seed=5, missing_share=0.0)
    periods = np.array([c.params["period"] for c in curves])
    folded = fold_curves(curves, periods, n_phase=80, cycles=2)
    assert folded.x.shape == (4, 3, 160)
    for row in folded.x:
        faintest = row[0, np.argmax(row[1, :80])]
        assert abs(faintest - 0.5) < 0.1
    assert np.allclose(phase_grid(4, 2), [0.125, 0.375, 0.625, 0.875, 1.125, 1.375, 1.625, 1.875])
