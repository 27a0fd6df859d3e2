"""Input and output drift of the served model against its training reference.

Two halves:

* :func:`reference_statistics` runs once at export (training), over the training/validation
  features and the model's probabilities on them, and returns a JSON-serialisable dict that
  the model card stores as ``ModelCard.reference``.
* :class:`DriftMonitor` runs in the plugin: ``update(batch, probabilities)`` after each
  classified batch keeps a sliding window of the most recent ``window`` curves and exports,
  per monitored quantity, PSI and the two-sample KS statistic, plus the Jensen–Shannon
  distance of the predicted class mix, and one 0/1 drift flag.

Per-curve quantities (one value per light curve, i.e. per object and band):

``sequence_length``            true (Δt, Δm) pairs kept (≤ feature length);
``dt_p10``/``dt_median``/``dt_p90``         quantiles of the curve's Δt (days): cadence;
``abs_dm_p10``/``abs_dm_median``/``abs_dm_p90`` quantiles of |Δm| (mag): amplitude + noise;
``points_per_band``           raw points in the curve before filtering (when given);
``confidence``                the top class probability;
``unknown_score``             the model's unknown score (calibrated models, see the card).

Per window: ``class_mix`` (the predicted class shares) and ``unknown_share`` (the share of
curves above the card's unknown threshold; its reference is the validation share, about
1 − the card's ``in_class_kept``), both compared with the Jensen–Shannon distance.

Curves with no usable pair (length 0) carry no features and are ignored.

Why these methods and defaults (all configurable with :class:`DriftThresholds`):

* PSI over reference deciles. The credit-scoring convention (Siddiqi 2006, *Credit Risk
  Scorecards*; Yurdakul 2018, "Statistical properties of the population stability index")
  reads PSI < 0.1 as no significant change, 0.1–0.25 as moderate and > 0.25 as a major shift;
  we flag at 0.25 and export the score so a dashboard can show the 0.1 band. With k bins PSI
  has a sampling bias of about (k − 1)(1/n_ref + 1/n_window): 0.02 for 10 bins and a window
  of 500, well below 0.1.
* KS statistic (not its p-value: with thousands of curves any tiny change is "significant").
  We flag at D ≥ 0.2: the α = 0.001 critical value for 1,000 vs 500 curves is 0.11, so 0.2 is
  far outside sampling noise, and it corresponds to a location shift of about half a standard
  deviation of a normal feature.
* Jensen–Shannon *distance* (square root of the base-2 divergence, in [0, 1]) between the
  reference and window class mix, flagged at 0.1 (the default of Evidently's drift presets
  for categorical columns). Sampling noise for 5 classes and a 500-curve window is ~0.03.

The flag is 1 when any PSI, any KS statistic or the class-mix JS distance crosses its
threshold, and only once the window holds at least ``min_window`` curves (before that the
scores are NaN: no decision on too little data).

The drift gauges, all in the registry given (names use the metrics prefix, see
:mod:`broker_plugin.metrics`):

``<prefix>_drift_score{feature, method}``  method = psi | ks | js
``<prefix>_drift_threshold{method}``       the thresholds in force
``<prefix>_drift_flag``                    0/1
``<prefix>_drift_window_curves``           curves currently in the window
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Gauge

from broker_plugin.errors import UserError, reject_unknown_fields
from broker_plugin.features import FeatureBatch, segment_quantile

REFERENCE_FORMAT = 1
#: Curves in the sliding window, and the fewest before any score is computed (the plugin's
#: --drift-window and --drift-min-window).
DEFAULT_DRIFT_WINDOW = 1000
DEFAULT_DRIFT_MIN_WINDOW = 200
PSI_BINS = 10
REFERENCE_SAMPLE = 1000
# Smallest proportion used inside PSI's log ratio: an empty bin must not give infinity.
PSI_FLOOR = 1e-4

INPUT_FEATURES = (
    "sequence_length",
    "dt_p10",
    "dt_median",
    "dt_p90",
    "abs_dm_p10",
    "abs_dm_median",
    "abs_dm_p90",
)
POINTS_FEATURE = "points_per_band"
CONFIDENCE_FEATURE = "confidence"
UNKNOWN_FEATURE = "unknown_score"
CLASS_MIX = "class_mix"
UNKNOWN_SHARE = "unknown_share"


class DriftReferenceError(UserError, ValueError):
    """A model card reference that cannot drive the drift monitor (says which field and fix)."""


@dataclass(frozen=True)
class DriftThresholds:
    """Thresholds for the drift flag (see the module docstring for the reasons)."""

    psi: float = 0.25
    ks: float = 0.2
    js: float = 0.1

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftThresholds:
        reject_unknown_fields(cls, data, DriftReferenceError, "drift threshold(s)")
        return cls(**{k: float(v) for k, v in data.items()})


def per_curve_features(
    batch: FeatureBatch, points_per_band: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """One value per curve for every input quantity (NaN where a curve has no pairs).

    Vectorised: the valid pairs of all curves are flattened once and per-curve quantiles come
    from :func:`segment_quantile` (one lexsort for the whole batch).
    """
    n = len(batch)
    lengths = np.asarray(batch.lengths, dtype=np.int64)
    length_axis = batch.x.shape[2] if batch.x.ndim == 3 else 0
    valid = np.arange(length_axis)[None, :] < lengths[:, None]
    curve = np.nonzero(valid)[0]
    dt = batch.x[:, 0, :][valid].astype(np.float64)
    abs_dm = np.abs(batch.x[:, 1, :][valid].astype(np.float64))
    out: dict[str, np.ndarray] = {"sequence_length": lengths.astype(np.float64)}
    for name, values in (("dt", dt), ("abs_dm", abs_dm)):
        for suffix, q in (("p10", 0.1), ("median", 0.5), ("p90", 0.9)):
            out[f"{name}_{suffix}"] = segment_quantile(values, curve, n, q)
    out["sequence_length"][lengths == 0] = np.nan
    if points_per_band is not None:
        points = np.asarray(points_per_band, dtype=np.float64)
        if points.shape != (n,):
            raise ValueError(f"points_per_band has shape {points.shape}, expected ({n},)")
        out[POINTS_FEATURE] = np.where(lengths > 0, points, np.nan)
    return out


def _bin_edges(values: np.ndarray) -> np.ndarray:
    """Inner bin edges at the reference deciles, merged where a point mass repeats them."""
    if values.size == 0:
        return np.empty(0)
    inner = np.quantile(values, np.linspace(0.0, 1.0, PSI_BINS + 1)[1:-1])
    return np.unique(inner)


def _proportions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    index = np.searchsorted(edges, values, side="left")
    counts = np.bincount(index, minlength=edges.size + 1).astype(np.float64)
    return counts / max(values.size, 1)


def _quantile_sample(values: np.ndarray, size: int = REFERENCE_SAMPLE) -> np.ndarray:
    """A bounded, deterministic stand-in for the reference sample: `size` evenly spaced quantiles.

    Its empirical CDF differs from the full sample's by at most 1/size, so KS against it is
    exact to that precision whatever the training set size.
    """
    if values.size <= size:
        return np.sort(values)
    return np.asarray(np.quantile(values, (np.arange(size) + 0.5) / size), dtype=np.float64)


def _distribution(values: np.ndarray) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    edges = _bin_edges(values)
    return {
        "n": int(values.size),
        "edges": edges.tolist(),
        "proportions": _proportions(values, edges).tolist(),
        "sample": _quantile_sample(values).tolist(),
    }


def reference_statistics(
    batch: FeatureBatch,
    probabilities: np.ndarray,
    classes: Sequence[str],
    points_per_band: np.ndarray | None = None,
    unknown_scores: np.ndarray | None = None,
    unknown_threshold: float | None = None,
) -> dict[str, Any]:
    """Reference statistics for ``ModelCard.reference`` (JSON-serialisable).

    `batch` holds the reference curves' features (e.g. the validation set), `probabilities`
    the exported model's (N, n_classes) output on them, `points_per_band` (optional) each
    curve's raw point count, `unknown_scores` and `unknown_threshold` the calibrated
    model's unknown score on them and its flag threshold. Empty curves are left out, as the
    plugin does.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = list(classes)
    n = len(batch)
    if probabilities.shape != (n, len(classes)):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}, expected ({n}, {len(classes)})"
        )
    per_curve = per_curve_features(batch, points_per_band)
    keep = np.asarray(batch.lengths) > 0
    features = {name: _distribution(values[keep]) for name, values in per_curve.items()}
    features[CONFIDENCE_FEATURE] = _distribution(probabilities[keep].max(axis=1))
    predicted = probabilities[keep].argmax(axis=1)
    mix = np.bincount(predicted, minlength=len(classes)) / max(int(keep.sum()), 1)
    reference = {
        "format": REFERENCE_FORMAT,
        "n_curves": int(keep.sum()),
        "classes": classes,
        "class_mix": mix.tolist(),
        "features": features,
    }
    if unknown_scores is not None and unknown_threshold is not None:
        scores = np.asarray(unknown_scores, dtype=np.float64)[keep]
        features[UNKNOWN_FEATURE] = _distribution(scores)
        reference["unknown_threshold"] = float(unknown_threshold)
        reference[UNKNOWN_SHARE] = float(np.mean(scores > unknown_threshold)) if scores.size \
            else 0.0
    return reference


def psi(reference_proportions: np.ndarray, window_proportions: np.ndarray) -> float:
    """Population stability index Σ (w − r) ln(w / r), empty bins floored at PSI_FLOOR."""
    r = np.maximum(np.asarray(reference_proportions, dtype=np.float64), PSI_FLOOR)
    w = np.maximum(np.asarray(window_proportions, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((w - r) * np.log(w / r)))


def ks_statistic(reference_sample: np.ndarray, values: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two ECDFs."""
    a = np.sort(np.asarray(reference_sample, dtype=np.float64))
    b = np.sort(np.asarray(values, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        return math.nan
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (sqrt of the base-2 divergence), in [0, 1]."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return math.sqrt(max(0.5 * kl(p) + 0.5 * kl(q), 0.0))


class DriftMonitor:
    """Sliding-window drift against a model card reference, exported as Prometheus gauges.

    Wiring in the consumer (a few lines)::

        monitor = DriftMonitor.from_card(card, registry=metrics.registry)  # None: no reference
        ...
        if monitor is not None:
            monitor.update(batch, probabilities, points_per_band=sizes)

    ``update`` is vectorised over the batch; drift scores are recomputed every
    ``recompute_every`` curves (sorting a few thousand values: well under a millisecond per
    feature). Thread-safe.
    """

    def __init__(
        self,
        reference: Mapping[str, Any],
        window: int = DEFAULT_DRIFT_WINDOW,
        thresholds: DriftThresholds | None = None,
        min_window: int = DEFAULT_DRIFT_MIN_WINDOW,
        recompute_every: int = 1,
        registry: CollectorRegistry | None = None,
        prefix: str | None = None,
    ) -> None:
        if window < 1 or min_window < 1:
            raise DriftReferenceError(
                f"drift window ({window}) and min_window ({min_window}) must be positive"
            )
        self.reference = _validate_reference(reference)
        self.thresholds = thresholds or DriftThresholds()
        self.window = int(window)
        self.min_window = min(int(min_window), self.window)
        self.recompute_every = max(int(recompute_every), 1)
        self.classes: list[str] = list(self.reference["classes"])
        self.features: list[str] = list(self.reference["features"])
        ref = self.reference["features"]
        self._ref_props = {f: np.asarray(d["proportions"]) for f, d in ref.items()}
        self._ref_edges = {f: np.asarray(d["edges"]) for f, d in ref.items()}
        self._ref_sample = {f: np.asarray(d["sample"]) for f, d in ref.items()}
        self._ref_mix = np.asarray(self.reference["class_mix"], dtype=np.float64)
        self._ref_unknown_share = self.reference.get(UNKNOWN_SHARE)
        self._unknown_threshold = self.reference.get("unknown_threshold")
        # Ring buffers: one row per curve; NaN marks a quantity not given for that curve.
        self._values = np.full((self.window, len(self.features)), np.nan)
        self._predicted = np.zeros(self.window, dtype=np.int64)
        self._filled = 0
        self._cursor = 0
        self._since_compute = 0
        self._lock = threading.Lock()
        self.scores: dict[tuple[str, str], float] = {}
        self.flag = 0
        self.unknown_share = math.nan
        self._gauges: _DriftGauges | None = None
        if registry is not None:
            self._gauges = _DriftGauges(registry, prefix, self.thresholds)
            self._export()

    @classmethod
    def from_card(cls, card: Any, **kwargs: Any) -> DriftMonitor | None:
        """A monitor for a ModelCard, or None when the card carries no reference statistics."""
        reference = getattr(card, "reference", None) or {}
        if not reference:
            return None
        return cls(reference, **kwargs)

    @property
    def size(self) -> int:
        """Curves currently in the window."""
        return self._filled

    def update(
        self,
        batch: FeatureBatch,
        probabilities: np.ndarray,
        points_per_band: np.ndarray | None = None,
        unknown_scores: np.ndarray | None = None,
    ) -> int:
        """Add a classified batch (rows of `probabilities` match `batch`); returns the flag."""
        probabilities = np.asarray(probabilities)
        if probabilities.shape != (len(batch), len(self.classes)):
            raise ValueError(
                f"probabilities have shape {probabilities.shape}, expected "
                f"({len(batch)}, {len(self.classes)})"
            )
        keep = np.asarray(batch.lengths) > 0
        per_curve = per_curve_features(batch, points_per_band)
        per_curve[CONFIDENCE_FEATURE] = probabilities.max(axis=1).astype(np.float64)
        if unknown_scores is not None:
            per_curve[UNKNOWN_FEATURE] = np.asarray(unknown_scores, dtype=np.float64)
        n_rows = len(batch)
        rows = np.full((n_rows, len(self.features)), np.nan)
        for j, name in enumerate(self.features):
            if name in per_curve:
                rows[:, j] = per_curve[name]
        rows = rows[keep][-self.window :]
        predicted = probabilities[keep].argmax(axis=1)[-self.window :]
        with self._lock:
            k = rows.shape[0]
            slots = (self._cursor + np.arange(k)) % self.window
            self._values[slots] = rows
            self._predicted[slots] = predicted
            self._cursor = int((self._cursor + k) % self.window)
            self._filled = min(self._filled + k, self.window)
            self._since_compute += k
            if k and self._since_compute >= self.recompute_every:
                self._since_compute = 0
                self._compute()
            self._export()
            return self.flag

    def _compute(self) -> None:
        """Recompute every score from the current window (lock held)."""
        scores: dict[tuple[str, str], float] = {}
        if self._filled < self.min_window:
            self.scores = {}
            self.flag = 0
            return
        values = self._values[: self._filled]
        for j, name in enumerate(self.features):
            column = values[:, j]
            column = column[np.isfinite(column)]
            if column.size < self.min_window:
                continue  # this quantity is not being supplied (e.g. no points_per_band)
            props = _proportions(column, self._ref_edges[name])
            scores[(name, "psi")] = psi(self._ref_props[name], props)
            scores[(name, "ks")] = ks_statistic(self._ref_sample[name], column)
        mix = np.bincount(self._predicted[: self._filled], minlength=len(self.classes))
        scores[(CLASS_MIX, "js")] = js_distance(self._ref_mix, mix.astype(np.float64))
        if self._ref_unknown_share is not None and UNKNOWN_FEATURE in self.features:
            column = values[:, self.features.index(UNKNOWN_FEATURE)]
            column = column[np.isfinite(column)]
            if column.size >= self.min_window:
                share = float(np.mean(column > self._unknown_threshold))
                reference = float(self._ref_unknown_share)
                scores[(UNKNOWN_SHARE, "js")] = js_distance(
                    np.array([1.0 - reference, reference]), np.array([1.0 - share, share]))
                self.unknown_share = share
        t = self.thresholds
        limit = {"psi": t.psi, "ks": t.ks, "js": t.js}
        self.scores = scores
        self.flag = int(any(v >= limit[method] for (_, method), v in scores.items()))

    def drifted(self) -> list[tuple[str, str, float]]:
        """(quantity, method, score) of every score at or above its threshold."""
        t = self.thresholds
        limit = {"psi": t.psi, "ks": t.ks, "js": t.js}
        return [(f, m, v) for (f, m), v in sorted(self.scores.items()) if v >= limit[m]]

    def _export(self) -> None:
        if self._gauges is None:
            return
        g = self._gauges
        for name in self.features:
            for method in ("psi", "ks"):
                g.score.labels(feature=name, method=method).set(
                    self.scores.get((name, method), math.nan)
                )
        for quantity in (CLASS_MIX, UNKNOWN_SHARE):
            if quantity == UNKNOWN_SHARE and self._ref_unknown_share is None:
                continue
            g.score.labels(feature=quantity, method="js").set(
                self.scores.get((quantity, "js"), math.nan))
        g.flag.set(self.flag)
        g.window.set(self._filled)


class _DriftGauges:
    def __init__(
        self, registry: CollectorRegistry, prefix: str | None, thresholds: DriftThresholds
    ) -> None:
        from broker_plugin.metrics import DEFAULT_PREFIX

        p = prefix or DEFAULT_PREFIX
        self.score = Gauge(
            f"{p}_drift_score",
            "Drift of a monitored quantity against the model card reference (NaN: too few "
            "curves yet)",
            ["feature", "method"],
            registry=registry,
        )
        self.threshold = Gauge(
            f"{p}_drift_threshold", "Drift flag threshold per method", ["method"],
            registry=registry,
        )
        for method, value in thresholds.to_dict().items():
            self.threshold.labels(method=method).set(value)
        self.flag = Gauge(
            f"{p}_drift_flag", "1 when any drift score crosses its threshold", registry=registry
        )
        self.window = Gauge(
            f"{p}_drift_window_curves", "Curves in the drift sliding window", registry=registry
        )


def _validate_reference(reference: Mapping[str, Any]) -> Mapping[str, Any]:
    """Check the reference's shape once, so a bad model card fails at start-up, clearly."""
    where = "model card 'reference'"
    for key in ("classes", "class_mix", "features"):
        if key not in reference:
            raise DriftReferenceError(
                f"{where}: missing {key!r}; re-export the model (training stores "
                "broker_plugin.drift.reference_statistics there)"
            )
    if len(reference["class_mix"]) != len(reference["classes"]):
        raise DriftReferenceError(f"{where}: class_mix and classes differ in length")
    for name, dist in reference["features"].items():
        for key in ("edges", "proportions", "sample"):
            if key not in dist:
                raise DriftReferenceError(f"{where}: feature {name!r} lacks {key!r}; re-export")
        if len(dist["proportions"]) != len(dist["edges"]) + 1:
            raise DriftReferenceError(
                f"{where}: feature {name!r} has {len(dist['edges'])} edges but "
                f"{len(dist['proportions'])} proportions (expected edges + 1); re-export"
            )
    return reference
