"""From decoded folded curves to unfolded, observed-looking synthetic light curves.

Pérez-Galarce et al. (2025), synthesis: the decoded folded curve is unfolded with the
sampled period over k ~ U(0, baseline/P) cycles of a same-class reference star (nearest
period), scaled to the reference's magnitude range, given zero-mean Gaussian noise with the
reference's errors, and sorted in time. Everything here works on flat arrays for the whole
batch (curve i owns a contiguous block): no Python loop per point or per curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.generator.references import ReferenceSet


@dataclass(frozen=True)
class SyntheticBatch:
    """Synthetic curves back to back, sorted in time within each curve."""

    time: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    sizes: np.ndarray
    reference: np.ndarray
    cycles: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.int64)


def interpolate_periodic(grid: np.ndarray, rows: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Linear interpolation of per-curve periodic grids (N, G) at (row, phase in [0, 1)).

    Grid values sit at bin centres (j + 0.5) / G, as `folding.phase_grid` makes them.
    """
    n_grid = grid.shape[1]
    position = phase * n_grid - 0.5
    left = np.floor(position)
    weight = position - left
    i0 = left.astype(np.int64) % n_grid
    i1 = (i0 + 1) % n_grid
    return (1.0 - weight) * grid[rows, i0] + weight * grid[rows, i1]


def unfold(
    grid: np.ndarray,
    period: np.ndarray,
    reference: np.ndarray,
    references: ReferenceSet,
    rng: np.random.Generator,
    max_points: int,
) -> SyntheticBatch:
    """Unfold decoded grids (N, G) of normalised magnitude into observed-looking curves.

    Curve i gets min(reference points, max_points) epochs spread uniformly over k_i·P_i
    days, k_i ~ U(0, baseline/P_i) floored at one cycle so that every curve shows a whole
    cycle; a random starting phase; magnitudes scaled to the reference's robust range; noise
    drawn with errors resampled from the reference's own errors.
    """
    n = grid.shape[0]
    period = np.asarray(period, dtype=np.float64)
    sizes = np.minimum(references.n_points[reference], max_points).astype(np.int64)
    available = references.baseline[reference] / period
    cycles = np.maximum(rng.uniform(0.0, 1.0, n) * available, 1.0)
    start_phase = rng.uniform(0.0, 1.0, n)

    curve = np.repeat(np.arange(n), sizes)
    u = sorted_uniforms(sizes, rng)
    cycle_position = u * cycles[curve]
    time = references.t0[reference][curve] + cycle_position * period[curve]
    phase = np.mod(cycle_position + start_phase[curve], 1.0)
    low = references.mag_low[reference][curve]
    high = references.mag_high[reference][curve]
    mag = low + interpolate_periodic(grid, curve, phase) * (high - low)

    count = references.err_count[reference][curve]
    pick = np.minimum((rng.uniform(0.0, 1.0, curve.size) * count).astype(np.int64), count - 1)
    err = references.errors[references.err_offset[reference][curve] + pick]
    mag = mag + rng.standard_normal(curve.size) * err

    return SyntheticBatch(
        time=time, mag=mag, err=err, sizes=sizes, reference=reference, cycles=cycles
    )


def sorted_uniforms(sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sorted U(0, 1) samples, `sizes[i]` for curve i, back to back, without sorting: the
    normalised partial sums of sizes[i] + 1 exponential gaps are uniform order statistics."""
    blocks = sizes + 1
    gaps = rng.exponential(1.0, int(blocks.sum()))
    total = np.cumsum(gaps)
    block_end = np.cumsum(blocks) - 1
    before = np.concatenate(([0.0], total[block_end[:-1]]))
    owner = np.repeat(np.arange(sizes.size), blocks)
    fraction = (total - before[owner]) / (total[block_end] - before)[owner]
    keep = np.ones(fraction.size, dtype=bool)
    keep[block_end] = False
    return fraction[keep]


def window_index(
    sizes: np.ndarray, starts: np.ndarray, n_windows: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of `n_windows` random contiguous windows of `width` points per curve
    (the whole curve when shorter), and each window's size. Window w of curve i is row
    i·n_windows + w."""
    curve = np.repeat(np.arange(sizes.size), n_windows)
    window_sizes = np.minimum(sizes[curve], width)
    slack = sizes[curve] - window_sizes
    first = starts[curve] + (rng.uniform(0.0, 1.0, curve.size) * (slack + 1)).astype(np.int64)
    owner = np.repeat(np.arange(curve.size), window_sizes)
    window_starts = np.cumsum(window_sizes) - window_sizes
    offsets = np.arange(owner.size) - np.repeat(window_starts, window_sizes)
    return first[owner] + offsets, window_sizes
