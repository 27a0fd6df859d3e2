"""From decoded folded curves to unfolded, observed-looking synthetic light curves.

Pérez-Galarce et al. (2025), synthesis: the decoded folded curve is unfolded with the
sampled period over k ~ U(1, baseline/P) cycles of a same-class reference star (nearest
period), scaled to the reference's magnitude range, and given zero-mean Gaussian noise with
the reference's errors. We observe it at the reference's own time stamps (a contiguous
window of them) rather than at uniform random times, so that Δt carries the survey's real
cadence and cannot tell synthetic from real curves. Everything here works on flat arrays for
the whole batch (curve i owns a contiguous block): no Python loop per point or per curve.

With cadence templates (`training.cadence_transfer`, the training config's `cadence_from`),
curves are observed at a random template's epochs instead (a random contiguous run of at
most `max_points` of them), with the reference's magnitude range moved into the template
survey's magnitude window and that survey's errors at those magnitudes: the synthetic mask
then learns the target survey's sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from training.generator.references import ReferenceSet

if TYPE_CHECKING:
    from training.cadence_transfer import CadenceTemplates


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
    window: str = "cycles",
    min_points: int = 20,
    templates: CadenceTemplates | None = None,
) -> SyntheticBatch:
    """Observe decoded grids (N, G) of normalised magnitude on the reference stars' own
    time stamps, so that synthetic Δt is real survey cadence (nightly runs, seasonal gaps).

    Curve i takes a random contiguous window of its reference's observations spanning
    k_i·P_i days, k_i ~ U(1, baseline/P_i) (the whole curve when P_i exceeds the baseline;
    `window="full"` always takes the whole curve), widened to at least `min_points`
    observations (all of them when the star has fewer: a window of two or three epochs of a
    sparse survey would teach the classifier nothing) and capped at `max_points`; phases
    are (t − t_start)/P_i plus a random offset; magnitudes are scaled to the reference's
    robust range and given zero-mean Gaussian noise with the reference's error at each
    kept observation. With `templates`, observed at cadence templates instead (module
    docstring; `window` and `min_points` then do not apply).
    """
    if templates is not None:
        return unfold_on_templates(grid, period, reference, references, templates, rng,
                                   max_points)
    n = grid.shape[0]
    period = np.asarray(period, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.int64)
    first = references.offset[reference]
    last = first + references.n_points[reference] - 1
    baseline = references.baseline[reference]
    available = baseline / period
    u_cycles, u_start, start_phase = rng.uniform(0.0, 1.0, (3, n))
    if window == "full":
        cycles = np.maximum(available, 1.0)
    else:
        cycles = 1.0 + u_cycles * np.maximum(available - 1.0, 0.0)
    span = cycles * period

    # Start at a random observation that leaves `span` days before the star's last one.
    latest = references.search(reference, baseline - span, side="right") - 1
    latest = np.clip(latest, first, last)
    start = first + (u_start * (latest - first + 1)).astype(np.int64)
    if window == "full":
        start = first
    start_time = references.time[start]
    relative_start = start_time - references.first_time[reference]
    stop = np.minimum(references.search(reference, relative_start + span, side="right"), last + 1)
    # Too few epochs in the window: extend it forward, then backward, to min_points.
    stop = np.maximum(stop, np.minimum(start + min_points, last + 1))
    start = np.minimum(start, np.maximum(stop - min_points, first))
    start_time = references.time[start]
    cycles = np.maximum(cycles, (references.time[stop - 1] - start_time) / period)
    sizes = np.clip(stop - start, 1, max_points).astype(np.int64)

    curve = np.repeat(np.arange(n), sizes)
    index = block_index(start, sizes)
    time = references.time[index]
    err = references.err[index].astype(np.float64)
    phase = np.mod((time - start_time[curve]) / period[curve] + start_phase[curve], 1.0)
    low = references.mag_low[reference][curve]
    high = references.mag_high[reference][curve]
    mag = low + interpolate_periodic(grid, curve, phase) * (high - low)
    mag = mag + rng.standard_normal(curve.size) * err

    return SyntheticBatch(
        time=time, mag=mag, err=err, sizes=sizes, reference=reference, cycles=cycles
    )


def unfold_on_templates(
    grid: np.ndarray,
    period: np.ndarray,
    reference: np.ndarray,
    references: ReferenceSet,
    templates: CadenceTemplates,
    rng: np.random.Generator,
    max_points: int,
) -> SyntheticBatch:
    """Observe decoded grids at random cadence templates (module docstring)."""
    n = grid.shape[0]
    period = np.asarray(period, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.int64)
    chosen = templates.sample(n, rng)
    u_start, start_phase = rng.uniform(0.0, 1.0, (2, n))
    size = templates.size[chosen]
    sizes = np.minimum(size, max_points).astype(np.int64)
    first = templates.offset[chosen] + (u_start * (size - sizes + 1)).astype(np.int64)
    index = block_index(first, sizes)
    curve = np.repeat(np.arange(n), sizes)
    time = templates.start[chosen][curve] + templates.epochs[index]
    starts = np.cumsum(sizes) - sizes
    t_first, t_last = time[starts], time[starts + sizes - 1]
    phase = np.mod((time - t_first[curve]) / period[curve] + start_phase[curve], 1.0)
    low, high = references.mag_low[reference], references.mag_high[reference]
    relation = templates.relation_index[chosen]
    window = np.array([templates.relations[int(r)].mag_range for r in relation]).reshape(n, 2)
    level = 0.5 * (low + high)
    shift = np.clip(level, window[:, 0], window[:, 1]) - level
    mag = (low + shift)[curve] + interpolate_periodic(grid, curve, phase) * (high - low)[curve]
    err = templates.quality[index] * templates.sigma(relation[curve], mag)
    mag = mag + rng.standard_normal(curve.size) * err
    return SyntheticBatch(time=time, mag=mag, err=err, sizes=sizes, reference=reference,
                          cycles=(t_last - t_first) / period)


def block_index(first: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Flat indices first[i], first[i] + 1, ..., first[i] + sizes[i] - 1, back to back."""
    block_start = np.cumsum(sizes) - sizes
    offsets = np.arange(int(sizes.sum())) - np.repeat(block_start, sizes)
    return np.repeat(first, sizes) + offsets


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
    return block_index(first, window_sizes), window_sizes
