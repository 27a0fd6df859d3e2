"""The period-free (Δt, Δm) featuriser, shared by training and serving.

One implementation, used by `training` (imported from here) and by the broker plugin, so
that a model never sees features computed two ways (the authors' code had train/serve
skew). Rules (docs/design.md, "One feature code"):

* rows with a non-finite time or magnitude are dropped; rows repeating an earlier row's
  time and magnitude are dropped (they carry no information and would add Δt = 0 pairs);
* points are sorted by time; Δt_i = t_{i+1} − t_i and Δm_i = m_{i+1} − m_i over consecutive
  points;
* the paper's filters, per curve, over all its pairs: Δm inside its [q_lo, q_hi] quantiles,
  Δt < `max_dt` days, Δt at or above its `dt_quantile_low` quantile (each can be disabled);
* the most recent `length` surviving pairs are kept, zero-padded at the end, and the true
  length is returned (0 flags a curve with fewer than two usable points).

Everything is vectorised over the whole batch: no Python loop per point or per curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from broker_plugin.errors import UserError, reject_unknown_fields
from broker_plugin.lightcurve import LightCurve

DEFAULT_LENGTH = 300
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class FeatureSettingsError(UserError, ValueError):
    """Feature settings that cannot work (reported with the field and the fix)."""


@dataclass(frozen=True)
class FeatureSettings:
    """How (Δt, Δm) sequences are built; stored in the model card and read back by serving."""

    length: int = DEFAULT_LENGTH
    dm_quantile_low: float | None = 0.001
    dm_quantile_high: float | None = 0.999
    max_dt: float | None = 100.0
    dt_quantile_low: float | None = 0.001
    # Points closer in time than this [days] to the previous one are one visit and are
    # averaged (time and magnitude) before differencing; None keeps every point. Surveys
    # take 1 to 4+ exposures per visit (Catalina 4 within 30 min, LSST deep fields
    # back-to-back 30 s ones): merged, every survey looks like a visit-by-visit cadence.
    merge_within: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.length, int) or self.length < 1:
            raise FeatureSettingsError(
                f"feature setting 'length' must be a positive integer, got {self.length!r}"
            )
        for name in ("dm_quantile_low", "dm_quantile_high", "dt_quantile_low"):
            q = getattr(self, name)
            if q is not None and not 0.0 <= q <= 1.0:
                raise FeatureSettingsError(
                    f"feature setting {name!r} must be within [0, 1] or null, got {q!r}"
                )
        lo, hi = self.dm_quantile_low, self.dm_quantile_high
        if lo is not None and hi is not None and lo > hi:
            raise FeatureSettingsError(
                f"feature settings: dm_quantile_low ({lo}) exceeds dm_quantile_high ({hi})"
            )
        if self.merge_within is not None and not self.merge_within > 0:
            raise FeatureSettingsError(
                f"feature setting 'merge_within' must be positive days or null, got "
                f"{self.merge_within!r}"
            )
        if self.max_dt is not None and not self.max_dt > 0:
            raise FeatureSettingsError(
                f"feature setting 'max_dt' must be positive days or null, got {self.max_dt!r}"
            )

    @classmethod
    def unfiltered(cls, length: int = DEFAULT_LENGTH) -> FeatureSettings:
        """Plain consecutive differences: no quantile or Δt filter."""
        return cls(length, None, None, None, None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSettings:
        reject_unknown_fields(cls, data, FeatureSettingsError, "feature setting(s)")
        return cls(**dict(data))


@dataclass(frozen=True)
class FeatureBatch:
    """(N, 2, length) float32 sequences (channel 0 Δt in days, 1 Δm in mag) and true lengths."""

    x: np.ndarray
    lengths: np.ndarray

    @property
    def empty(self) -> np.ndarray:
        """True where a curve had fewer than two usable points."""
        return np.asarray(self.lengths == 0, dtype=bool)

    def __len__(self) -> int:
        return int(self.lengths.size)


def featurise(curve: LightCurve, settings: FeatureSettings | None = None) -> FeatureBatch:
    """Features of one curve, as a batch of one."""
    return featurise_batch([curve], settings)


def featurise_batch(
    curves: Sequence[LightCurve], settings: FeatureSettings | None = None
) -> FeatureBatch:
    """Features of many curves at once."""
    sizes = np.fromiter((len(c) for c in curves), dtype=np.int64, count=len(curves))
    if len(curves) == 0:
        return featurise_segments(np.empty(0), np.empty(0), sizes, settings)
    time = np.concatenate([c.time for c in curves])
    mag = np.concatenate([c.mag for c in curves])
    return featurise_segments(time, mag, sizes, settings)


def featurise_segments(
    time: np.ndarray,
    mag: np.ndarray,
    sizes: np.ndarray,
    settings: FeatureSettings | None = None,
) -> FeatureBatch:
    """Features of curves stored back to back: curve i owns the next `sizes[i]` points.

    This is the entry point for decoders that already hold flat arrays (no LightCurve
    objects on the serving hot path). Curves are grouped by size (powers of two) and each
    group is processed as one padded (curves × points) matrix: row-wise sorts of short rows
    are far faster than one global sort, and padding wastes at most half of each matrix.
    """
    settings = settings or FeatureSettings()
    time = np.asarray(time, dtype=np.float64)
    mag = np.asarray(mag, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if time.shape != mag.shape or time.ndim != 1 or int(sizes.sum()) != time.size:
        raise ValueError(
            f"featurise_segments: time {time.shape} and mag {mag.shape} must be 1-D, equal, "
            f"and as long as sum(sizes) = {int(sizes.sum())}"
        )
    x = np.zeros((sizes.size, 2, settings.length), dtype=np.float32)
    lengths = np.zeros(sizes.size, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    group = np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
    for g in np.unique(group[sizes >= 2]):
        rows = np.flatnonzero((group == g) & (sizes >= 2))
        t2d, m2d = _padded(time, mag, starts[rows], sizes[rows])
        x[rows], lengths[rows] = _featurise_padded(t2d, m2d, settings)
    return FeatureBatch(x=x, lengths=lengths)


def _padded(
    time: np.ndarray, mag: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, max size) matrices of time and mag, NaN beyond each curve's end."""
    width = int(sizes.max())
    column = np.arange(width)
    inside = column[None, :] < sizes[:, None]
    index = np.where(inside, starts[:, None] + column[None, :], 0)
    return np.where(inside, time[index], np.nan), np.where(inside, mag[index], np.nan)


def _featurise_padded(
    t: np.ndarray, m: np.ndarray, settings: FeatureSettings
) -> tuple[np.ndarray, np.ndarray]:
    n_rows, width = t.shape
    # Unusable rows (non-finite) become +inf so that they sort to the end of their row.
    unusable = ~(np.isfinite(t) & np.isfinite(m))
    t = np.where(unusable, np.inf, t)
    m = np.where(unusable, np.inf, m)

    # Sort rows by (time, mag) where they are not already in that order (usually none are).
    with np.errstate(invalid="ignore"):
        descending = (t[:, 1:] < t[:, :-1]) | ((t[:, 1:] == t[:, :-1]) & (m[:, 1:] < m[:, :-1]))
    unsorted = np.flatnonzero(descending.any(axis=1))
    if unsorted.size:
        order = np.argsort(t[unsorted], axis=1, kind="stable")
        t[unsorted] = np.take_along_axis(t[unsorted], order, axis=1)
        m[unsorted] = np.take_along_axis(m[unsorted], order, axis=1)
        # Equal times are then ordered by magnitude (rare: a full lexsort of those rows only).
        tied = unsorted[
            ((t[unsorted, 1:] == t[unsorted, :-1]) & (m[unsorted, 1:] < m[unsorted, :-1])).any(
                axis=1
            )
        ]
        if tied.size:
            order = np.lexsort((m[tied], t[tied]), axis=-1)
            t[tied] = np.take_along_axis(t[tied], order, axis=1)
            m[tied] = np.take_along_axis(m[tied], order, axis=1)

    # Drop repeated (time, mag) rows, then close the gaps so valid points lead each row.
    drop = np.isinf(t)
    drop[:, 1:] |= (t[:, 1:] == t[:, :-1]) & (m[:, 1:] == m[:, :-1])
    gappy = np.flatnonzero((drop[:, :-1] & ~drop[:, 1:]).any(axis=1))
    if gappy.size:
        order = np.argsort(drop[gappy], axis=1, kind="stable")
        t[gappy] = np.take_along_axis(t[gappy], order, axis=1)
        m[gappy] = np.take_along_axis(m[gappy], order, axis=1)
        drop[gappy] = np.take_along_axis(drop[gappy], order, axis=1)
    n_points = width - drop.sum(axis=1)
    if settings.merge_within is not None:
        t, m, n_points = _merge_visits(t, m, n_points, settings.merge_within)

    with np.errstate(over="ignore", invalid="ignore"):  # overflowing pairs are dropped below
        dt = np.diff(t, axis=1)
        dm = np.diff(m, axis=1)
    n_pairs = np.maximum(n_points - 1, 0)
    pair = np.arange(width - 1)[None, :] < n_pairs[:, None]

    keep = pair.copy()
    if settings.dm_quantile_low is not None or settings.dm_quantile_high is not None:
        dm_sorted = np.sort(np.where(pair, dm, np.inf), axis=1)
        if settings.dm_quantile_low is not None:
            keep &= dm >= _row_quantile(dm_sorted, n_pairs, settings.dm_quantile_low)[:, None]
        if settings.dm_quantile_high is not None:
            keep &= dm <= _row_quantile(dm_sorted, n_pairs, settings.dm_quantile_high)[:, None]
    if settings.dt_quantile_low is not None:
        dt_sorted = np.sort(np.where(pair, dt, np.inf), axis=1)
        keep &= dt >= _row_quantile(dt_sorted, n_pairs, settings.dt_quantile_low)[:, None]
    if settings.max_dt is not None:
        keep &= dt < settings.max_dt
    # Pairs that would overflow float32 (absurd magnitudes or times) cannot be represented.
    with np.errstate(invalid="ignore"):
        keep &= (np.abs(dt) < _FLOAT32_MAX) & (np.abs(dm) < _FLOAT32_MAX)

    # Keep the most recent `length` kept pairs of each row, left-aligned, zero-padded.
    length = settings.length
    counts = keep.sum(axis=1)
    rank = np.cumsum(keep, axis=1) - 1  # index among kept pairs of the row
    first = np.maximum(counts - length, 0)
    chosen = keep & (rank >= first[:, None])
    rows, columns = np.nonzero(chosen)
    position = rank[rows, columns] - first[rows]
    x = np.zeros((n_rows, 2, length), dtype=np.float32)
    x[rows, 0, position] = dt[rows, columns]
    x[rows, 1, position] = dm[rows, columns]
    return x, np.minimum(counts, length)


def _merge_visits(
    t: np.ndarray, m: np.ndarray, n_points: np.ndarray, window: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average runs of points whose gap to the previous point is below `window` days.

    Rows hold their `n_points` valid, time-sorted points first. A run starts at each gap
    of at least `window`; its time and magnitude are the means of its points.
    """
    n_rows, width = t.shape
    valid = np.arange(width)[None, :] < n_points[:, None]
    with np.errstate(invalid="ignore"):
        starts = np.ones_like(valid)
        starts[:, 1:] = (t[:, 1:] - t[:, :-1]) >= window
    visit = np.cumsum(starts & valid, axis=1) - 1  # visit index within the row
    rows, columns = np.nonzero(valid)
    flat = rows * width + visit[rows, columns]
    count = np.bincount(flat, minlength=n_rows * width)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_t = np.bincount(flat, t[rows, columns], n_rows * width) / count
        mean_m = np.bincount(flat, m[rows, columns], n_rows * width) / count
    n_visits = np.where(valid.any(axis=1), np.take_along_axis(
        visit, np.maximum(n_points - 1, 0)[:, None], axis=1)[:, 0] + 1, 0)
    inside = np.arange(width)[None, :] < n_visits[:, None]
    merged_t = np.where(inside, mean_t.reshape(n_rows, width), np.inf)
    merged_m = np.where(inside, mean_m.reshape(n_rows, width), np.inf)
    return merged_t, merged_m, n_visits


def _row_quantile(ordered: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Per-row q-quantile (numpy's 'linear' method) of rows sorted ascending; NaN if empty."""
    position = q * np.maximum(counts - 1, 0)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(counts - 1, 0))
    rows = np.arange(ordered.shape[0])
    lo_value, hi_value = ordered[rows, low], ordered[rows, high]
    with np.errstate(over="ignore", invalid="ignore"):
        result = lo_value + (position - low) * (hi_value - lo_value)
    return np.where(counts > 0, result, np.nan)


def segment_quantile(
    values: np.ndarray, segment: np.ndarray, n_segments: int, q: float
) -> np.ndarray:
    """The q-quantile of `values` within each segment (numpy's 'linear' method); NaN if empty.

    `segment` holds each value's segment index (any order). One lexsort for all segments.
    """
    result = np.full(n_segments, np.nan)
    if values.size == 0:
        return result
    ordered = values[np.lexsort((values, segment))]
    counts = np.bincount(segment, minlength=n_segments)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    present = counts > 0
    position = q * (counts[present] - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, counts[present] - 1)
    lo_value, hi_value = ordered[starts[present] + low], ordered[starts[present] + high]
    with np.errstate(over="ignore", invalid="ignore"):
        result[present] = lo_value + (position - low) * (hi_value - lo_value)
    return result
