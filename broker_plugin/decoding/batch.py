"""`DecodedBatch`: a batch of alerts as flat numpy arrays, ready for `featurise_segments`.

No per-alert `LightCurve` objects on the hot path: alerts are rows, (alert, band) segments are
rows, and the photometry of all segments lies back to back in `time`, `mag`, `err`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from broker_plugin.lightcurve import LightCurve
from broker_plugin.rejections import Reason, Rejection


@dataclass
class DecodedBatch:
    """Decoded alerts of one batch (row a = one alert; row s = one (alert, band) segment).

    `schema_id` is -1 where the framing carried none (containers, schemaless). Segments of an
    alert are contiguous and in band order; points inside a segment are in time order.
    """

    alert_index: np.ndarray  # (A,) int64: position of the alert in the input payloads
    alert_id: np.ndarray  # (A,) str (object): diaSourceId / candid
    object_id: np.ndarray  # (A,) str (object): diaObjectId / objectId
    survey: np.ndarray  # (A,) str (object): "lsst" | "ztf" | "compact"
    alert_mjd: np.ndarray  # (A,) float64: MJD of the triggering observation
    schema_id: np.ndarray  # (A,) int64, -1 = none
    segment_alert: np.ndarray  # (S,) int64: alert row of each segment
    segment_band: np.ndarray  # (S,) str (object)
    segment_size: np.ndarray  # (S,) int64
    time: np.ndarray  # (P,) float64 MJD
    mag: np.ndarray  # (P,) float64 AB (LSST) / apparent (ZTF) magnitude
    err: np.ndarray  # (P,) float64
    failures: list[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.alert_index.size)

    @property
    def segment_start(self) -> np.ndarray:
        """(S,) offset of each segment's first point in the flat arrays."""
        return np.concatenate([[0], np.cumsum(self.segment_size)[:-1]]).astype(np.int64)

    def to_lightcurves(self) -> list[LightCurve]:
        """One `LightCurve` per (alert, band), for tests and replay (not the hot path)."""
        curves = []
        for s, (a, band, start, size) in enumerate(
            zip(self.segment_alert, self.segment_band, self.segment_start, self.segment_size,
                strict=True)
        ):
            sl = slice(int(start), int(start + size))
            curves.append(
                LightCurve(
                    object_id=str(self.object_id[a]),
                    time=self.time[sl],
                    mag=self.mag[sl],
                    err=self.err[sl],
                    band=str(band),
                    survey=str(self.survey[a]),
                    meta={
                        "alert_id": str(self.alert_id[a]),
                        "alert_index": int(self.alert_index[a]),
                        "alert_mjd": float(self.alert_mjd[a]),
                        "schema_id": None if self.schema_id[a] < 0 else int(self.schema_id[a]),
                        "segment": s,
                    },
                )
            )
        return curves


class BatchBuilder:
    """Accumulates decoded alerts, then sorts and splits all points once into a `DecodedBatch`.

    Grouping into (alert, band) segments happens in `build` with one global lexsort, so the
    per-alert cost of `add` is a few list appends.
    """

    def __init__(self) -> None:
        self._alerts: list[tuple[int, str, str, str, float, int]] = []
        self._size: list[int] = []
        self._band: list[np.ndarray] = []
        self._time: list[np.ndarray] = []
        self._mag: list[np.ndarray] = []
        self._err: list[np.ndarray] = []
        self.failures: list[Rejection] = []

    def fail(self, index: int, reason: Reason, message: str, schema_id: int | None = None
             ) -> None:
        """Record an input that did not decode."""
        self.failures.append(Rejection(index, reason, message, schema_id))

    def add(
        self,
        index: int,
        alert_id: str,
        object_id: str,
        survey: str,
        alert_mjd: float,
        schema_id: int | None,
        band: np.ndarray,
        time: np.ndarray,
        mag: np.ndarray,
        err: np.ndarray,
    ) -> None:
        """Add one alert's clean points (any order, `band` an array of str or bytes)."""
        if time.size == 0:
            self.fail(index, Reason.NO_POINTS, "alert carries no usable photometry point",
                      schema_id)
            return
        self._alerts.append(
            (index, alert_id, object_id, survey, float(alert_mjd),
             -1 if schema_id is None else int(schema_id))
        )
        self._size.append(time.size)
        band = np.asarray(band)
        self._band.append(band if band.dtype.kind == "U" else band.astype(str))
        self._time.append(time if time.dtype == np.float64 else time.astype(np.float64))
        self._mag.append(np.asarray(mag, dtype=np.float64))
        self._err.append(np.asarray(err, dtype=np.float64))

    def build(self) -> DecodedBatch:
        """The flat batch: points sorted by (alert, band, time), one segment per run."""
        cols = list(zip(*self._alerts, strict=True)) if self._alerts else [()] * 6
        f64 = np.float64
        if self._time:
            row = np.repeat(np.arange(len(self._alerts), dtype=np.int64), self._size)
            names, code = np.unique(np.concatenate(self._band), return_inverse=True)
            time = np.concatenate(self._time)
            order = np.lexsort((time, code, row))
            row, code, time = row[order], code[order], time[order]
            mag = np.concatenate(self._mag)[order]
            err = np.concatenate(self._err)[order]
            new = np.ones(row.size, dtype=bool)
            new[1:] = (row[1:] != row[:-1]) | (code[1:] != code[:-1])
            starts = np.flatnonzero(new)
            seg_alert = row[starts]
            seg_band = names.astype(object)[code[starts]]
            seg_size = np.diff(np.append(starts, row.size))
        else:
            seg_alert = seg_size = np.empty(0, np.int64)
            seg_band = np.empty(0, object)
            time = mag = err = np.empty(0, f64)
        return DecodedBatch(
            alert_index=np.asarray(cols[0], dtype=np.int64),
            alert_id=np.asarray(cols[1], dtype=object),
            object_id=np.asarray(cols[2], dtype=object),
            survey=np.asarray(cols[3], dtype=object),
            alert_mjd=np.asarray(cols[4], dtype=f64),
            schema_id=np.asarray(cols[5], dtype=np.int64),
            segment_alert=seg_alert.astype(np.int64),
            segment_band=seg_band,
            segment_size=seg_size.astype(np.int64),
            time=time,
            mag=mag,
            err=err,
            failures=sorted(self.failures, key=lambda f: f.index),
        )
