"""The period-free (Δt, Δm) featuriser, shared by training and serving.

One implementation, used by `training` (imported from here) and by the broker plugin, so
that a model never sees features computed two ways (the authors' code had train/serve
skew). Rules (DESIGN.md, "One feature code"):

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
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from broker_plugin.errors import UserError
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
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FeatureSettingsError(
                f"unknown feature setting(s) {unknown}; valid names are {sorted(known)}"
            )
        return cls(**dict(data))


@dataclass(frozen=True)
class FeatureBatch:
    """(N, 2, length) float32 sequences (channel 0 Δt in days, 1 Δm in mag) and true lengths."""

    x: np.ndarray
    lengths: np.ndarray

    @property
    def empty(self) -> np.ndarray:
        """True where a curve had fewer than two usable points."""
        return self.lengths == 0

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
    objects on the serving hot path).
    """
    settings = settings or FeatureSettings()
    time = np.asarray(time, dtype=np.float64)
    mag = np.asarray(mag, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    n_curves = sizes.size
    if time.shape != mag.shape or time.ndim != 1 or int(sizes.sum()) != time.size:
        raise ValueError(
            f"featurise_segments: time {time.shape} and mag {mag.shape} must be 1-D, equal, "
            f"and as long as sum(sizes) = {int(sizes.sum())}"
        )
    curve = np.repeat(np.arange(n_curves, dtype=np.int64), sizes)

    usable = np.isfinite(time) & np.isfinite(mag)
    time, mag, curve = time[usable], mag[usable], curve[usable]
    order = np.lexsort((mag, time, curve))
    time, mag, curve = time[order], mag[order], curve[order]
    if time.size:
        repeat = np.zeros(time.size, dtype=bool)
        repeat[1:] = (curve[1:] == curve[:-1]) & (time[1:] == time[:-1]) & (mag[1:] == mag[:-1])
        time, mag, curve = time[~repeat], mag[~repeat], curve[~repeat]

    same_curve = curve[1:] == curve[:-1]
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing pairs are dropped below
        dt = np.diff(time)[same_curve]
        dm = np.diff(mag)[same_curve]
    pair_curve = curve[:-1][same_curve] if curve.size else curve

    def per_pair_quantile(values: np.ndarray, q: float) -> np.ndarray:
        return segment_quantile(values, pair_curve, n_curves, q)[pair_curve]

    keep = np.ones(dt.size, dtype=bool)
    if settings.dm_quantile_low is not None:
        keep &= dm >= per_pair_quantile(dm, settings.dm_quantile_low)
    if settings.dm_quantile_high is not None:
        keep &= dm <= per_pair_quantile(dm, settings.dm_quantile_high)
    if settings.dt_quantile_low is not None:
        keep &= dt >= per_pair_quantile(dt, settings.dt_quantile_low)
    if settings.max_dt is not None:
        keep &= dt < settings.max_dt
    # Pairs that would overflow float32 (absurd magnitudes or times) cannot be represented.
    keep &= (np.abs(dt) < _FLOAT32_MAX) & (np.abs(dm) < _FLOAT32_MAX)
    dt, dm, pair_curve = dt[keep], dm[keep], pair_curve[keep]

    # Keep the most recent `length` pairs of each curve, left-aligned, zero-padded.
    length = settings.length
    counts = np.bincount(pair_curve, minlength=n_curves)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    index_in_curve = np.arange(dt.size) - starts[pair_curve]
    first_kept = np.maximum(counts - length, 0)
    recent = index_in_curve >= first_kept[pair_curve]
    position = (index_in_curve - first_kept[pair_curve])[recent]
    rows = pair_curve[recent]
    x = np.zeros((n_curves, 2, length), dtype=np.float32)
    x[rows, 0, position] = dt[recent]
    x[rows, 1, position] = dm[recent]
    return FeatureBatch(x=x, lengths=np.minimum(counts, length).astype(np.int64))


def segment_quantile(
    values: np.ndarray, segment: np.ndarray, n_segments: int, q: float
) -> np.ndarray:
    """The q-quantile of `values` within each segment (numpy's 'linear' method); NaN if empty.

    `segment` holds each value's segment index. Vectorised: one lexsort for all segments.
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
    fraction = position - low
    base = starts[present]
    lo_value, hi_value = ordered[base + low], ordered[base + high]
    with np.errstate(over="ignore", invalid="ignore"):
        result[present] = lo_value + fraction * (hi_value - lo_value)
    return result
