"""Reference stars: the real training curves that lend synthetic curves their observation
times, magnitude range and per-point photometric errors (nearest period within the class).

Synthetic curves are observed on a reference star's own time stamps so that their Δt
(nightly runs, seasonal gaps, survey cadence) is indistinguishable from real data; only
the shape and the physical parameters are the generator's. Each star keeps its most recent
`max_points` finite observations; all stars' times and errors are stored back to back
(float64 times, float32 errors) with offsets, so a saved generator stays compact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from broker_plugin.lightcurve import LightCurve
from training.generator.folding import robust_range


@dataclass(frozen=True)
class ReferenceSet:
    """Per reference curve (object id and band): class index, log10 period, robust magnitude
    range and its observations (`offset`, `n_points` into the flat, per-curve time-sorted
    `time` and `err`)."""

    object_id: np.ndarray
    band: np.ndarray
    class_index: np.ndarray
    log_period: np.ndarray
    mag_low: np.ndarray
    mag_high: np.ndarray
    offset: np.ndarray
    n_points: np.ndarray
    time: np.ndarray
    err: np.ndarray

    def __len__(self) -> int:
        return int(self.class_index.size)

    @classmethod
    def build(
        cls,
        curves: Sequence[LightCurve],
        class_index: np.ndarray,
        periods: np.ndarray,
        max_points: int = 1000,
    ) -> ReferenceSet:
        """Keep each curve's last `max_points` finite observations (sorted by time)."""
        n = len(curves)
        mag_low, mag_high = np.zeros(n), np.zeros(n)
        times, errors = [], []
        for i, curve in enumerate(curves):
            ok = np.isfinite(curve.time) & np.isfinite(curve.mag) & np.isfinite(curve.err)
            order = np.argsort(curve.time[ok], kind="stable")[-max_points:]
            mag_low[i], mag_high[i] = robust_range(curve.mag[ok])
            times.append(curve.time[ok][order])
            errors.append(np.abs(curve.err[ok][order]))
        n_points = np.array([t.size for t in times], dtype=np.int64)
        return cls(
            object_id=np.array([c.object_id for c in curves], dtype=str),
            band=np.array([c.band or "" for c in curves], dtype=str),
            class_index=np.asarray(class_index, dtype=np.int64),
            log_period=np.log10(np.asarray(periods, dtype=np.float64)),
            mag_low=mag_low,
            mag_high=mag_high,
            offset=(np.cumsum(n_points) - n_points).astype(np.int64),
            n_points=n_points,
            time=np.concatenate(times).astype(np.float64) if times else np.empty(0),
            err=np.concatenate(errors).astype(np.float32) if errors else np.empty(0, np.float32),
        )

    @property
    def first_time(self) -> np.ndarray:
        return self.time[self.offset]

    @property
    def baseline(self) -> np.ndarray:
        """Days between each star's first and last kept observation."""
        return self.time[self.offset + self.n_points - 1] - self.first_time

    @cached_property
    def _search_key(self) -> tuple[np.ndarray, float]:
        """One globally sorted key for all stars' times (star i's times shifted into its own
        slot [i·span, (i+1)·span)), so a single searchsorted finds times within any star."""
        span = float(self.baseline.max(initial=0.0)) + 1.0
        owner = np.repeat(np.arange(len(self)), self.n_points)
        return owner * span + (self.time - self.first_time[owner]), span

    def search(self, star: np.ndarray, relative_time: np.ndarray, side: str) -> np.ndarray:
        """Flat index where `relative_time` (days after the star's first observation) would
        be inserted among star's observations (`side` as in np.searchsorted)."""
        key, span = self._search_key
        return np.searchsorted(key, star * span + relative_time, side=side)  # type: ignore[call-overload]

    def nearest(self, class_index: np.ndarray, log_period: np.ndarray) -> np.ndarray:
        """Index of the same-class reference with the nearest log10 period, for each query."""
        class_index = np.asarray(class_index, dtype=np.int64)
        out = np.empty(class_index.size, dtype=np.int64)
        for c in np.unique(class_index):
            members = np.flatnonzero(self.class_index == c)
            if members.size == 0:
                raise ValueError(f"no reference star for class index {c}")
            order = members[np.argsort(self.log_period[members])]
            sorted_lp = self.log_period[order]
            asked = class_index == c
            pos = np.clip(np.searchsorted(sorted_lp, log_period[asked]), 1, max(1, order.size - 1))
            left = np.clip(pos - 1, 0, order.size - 1)
            right = np.clip(pos, 0, order.size - 1)
            take_right = np.abs(sorted_lp[right] - log_period[asked]) < np.abs(
                sorted_lp[left] - log_period[asked]
            )
            out[asked] = order[np.where(take_right, right, left)]
        return out

    def observations(self, star: int) -> tuple[np.ndarray, np.ndarray]:
        """(times, errors) kept for one star."""
        sl = slice(self.offset[star], self.offset[star] + self.n_points[star])
        return self.time[sl], self.err[sl]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ReferenceSet:
        return cls(**{k: np.asarray(arrays[k]) for k in cls.__dataclass_fields__})
