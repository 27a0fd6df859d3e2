"""Reference stars: the real training curves that lend synthetic curves their cadence budget,
magnitude range and photometric errors (nearest period within the same class)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from broker_plugin.lightcurve import LightCurve
from training.generator.folding import robust_range

#: Errors kept per reference star (a random subset): enough to resample noise realistically.
MAX_ERRORS_PER_STAR = 512


@dataclass(frozen=True)
class ReferenceSet:
    """Per reference star: class index, log10 period, baseline [d], first time, robust
    magnitude range, number of points, and its errors stored back to back (offsets)."""

    object_id: np.ndarray
    class_index: np.ndarray
    log_period: np.ndarray
    baseline: np.ndarray
    t0: np.ndarray
    mag_low: np.ndarray
    mag_high: np.ndarray
    n_points: np.ndarray
    err_offset: np.ndarray
    err_count: np.ndarray
    errors: np.ndarray

    def __len__(self) -> int:
        return int(self.class_index.size)

    @classmethod
    def build(
        cls,
        curves: Sequence[LightCurve],
        class_index: np.ndarray,
        periods: np.ndarray,
        seed: int = 0,
    ) -> ReferenceSet:
        rng = np.random.default_rng(seed)
        n = len(curves)
        fields = {k: np.zeros(n) for k in ("baseline", "t0", "mag_low", "mag_high")}
        n_points = np.zeros(n, dtype=np.int64)
        errors = []
        for i, curve in enumerate(curves):
            ok = np.isfinite(curve.time) & np.isfinite(curve.mag) & np.isfinite(curve.err)
            time, mag, err = curve.time[ok], curve.mag[ok], np.abs(curve.err[ok])
            fields["baseline"][i] = time.max() - time.min()
            fields["t0"][i] = time.min()
            fields["mag_low"][i], fields["mag_high"][i] = robust_range(mag)
            n_points[i] = time.size
            if err.size > MAX_ERRORS_PER_STAR:
                err = rng.choice(err, MAX_ERRORS_PER_STAR, replace=False)
            errors.append(err)
        counts = np.array([e.size for e in errors], dtype=np.int64)
        return cls(
            object_id=np.array([c.object_id for c in curves], dtype=str),
            class_index=np.asarray(class_index, dtype=np.int64),
            log_period=np.log10(np.asarray(periods, dtype=np.float64)),
            n_points=n_points,
            err_offset=np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64),
            err_count=counts,
            errors=np.concatenate(errors) if errors else np.empty(0),
            **fields,
        )

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

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ReferenceSet:
        return cls(**{k: np.asarray(arrays[k]) for k in cls.__dataclass_fields__})
