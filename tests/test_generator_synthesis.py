"""Vectorised unfolding, windows, interpolation and reference choice (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_unfolded_curves_follow_their_reference(references: ReferenceSet) -> None:
    """Sizes, time order, span within the reference baseline and magnitudes in its range."""
    rng = np.random.default_rng(0)
    n_phase = 40
    grid = np.tile(0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(n_phase) + 0.5) / n_phase), (3, 1))
    reference = np.array([0, 7, 11])
    period = 10 ** references.log_period[reference]
    batch = unfold(grid, period, reference, references, rng, max_points=150)
    assert np.array_equal(batch.sizes, np.minimum(references.n_points[reference], 150))
    for i, start in enumerate(batch.starts):
        t = batch.time[start : start + batch.sizes[i]]
        m = batch.mag[start : start + batch.sizes[i]]
        ref = reference[i]
        assert np.all(np.diff(t) >= 0)
        assert t.max() - t.min() <= max(references.baseline[ref], period[i]) + 1e-9
        spread = references.mag_high[ref] - references.mag_low[ref]
        assert m.min() > references.mag_low[ref] - 0.2 * spread
        assert m.max() < references.mag_high[ref] + 0.2 * spread


def test_noise_uses_the_reference_errors(references: ReferenceSet) -> None:
    """Every synthetic error is one of its reference star's errors."""
    grid = np.zeros((1, 16))
    batch = unfold(grid, np.array([1.0]), np.array([3]), references,
                   np.random.default_rng(1), max_points=500)
    first = references.err_offset[3]
    own = references.errors[first : first + references.err_count[3]]
    assert np.isin(batch.err, own).all()


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


def test_sorted_uniforms_are_sorted_uniform_order_statistics() -> None:
    """Per curve: in (0, 1), non-decreasing, and uniform overall (KS)."""
    from scipy import stats

    from training.generator.synthesis import sorted_uniforms

    sizes = np.array([5, 1, 2000, 300])
    u = sorted_uniforms(sizes, np.random.default_rng(0))
    assert u.size == sizes.sum() and ((u > 0) & (u < 1)).all()
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    for start, size in zip(starts, sizes, strict=True):
        assert np.all(np.diff(u[start : start + size]) >= 0)
    assert stats.kstest(u, "uniform").pvalue > 0.001
