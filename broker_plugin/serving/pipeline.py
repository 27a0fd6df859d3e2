"""The transport-free core shared by `run` (Kafka) and `classify` (files): bytes in, answers out.

    payloads ─decode─▶ flat (alert, band) segments ─featurise─▶ (n, 2, L) ─onnxruntime─▶
    band probabilities ─combine─▶ one answer per alert ─build─▶ output records

Whatever cannot be classified comes back as a `Rejection` (reason code, message, schema id)
for the dead-letter topic or the replay's rejects file; the batch itself never fails for one
bad input. Bands with fewer than the card's `min_points` − 1 usable Δt/Δm pairs after the
featuriser's filters (training's rule, `broker_plugin.model_inputs`) are skipped; an alert
with no usable band is rejected as `too_few_points`. Everything is vectorised per batch; the
only per-alert Python is record building.

A large batch runs as a pipeline of chunks: onnxruntime classifies chunk k in a worker
thread (it releases the GIL) while this thread decodes chunk k+1 and builds the records of
chunk k−1, so decode and inference, which together are ~85 % of the loop at 300 points, use
two cores instead of taking turns on one. The answers are the same as in one piece.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from broker_plugin.decoding.batch import DecodedBatch
from broker_plugin.features import FeatureBatch
from broker_plugin.model_inputs import min_pairs, segment_inputs
from broker_plugin.rejections import Reason, Rejection
from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.combine import combine_bands, combine_scores
from broker_plugin.serving.records import RecordBuilder
from broker_plugin.serving.timing import StageTimes

__all__ = ["AlertPipeline", "BatchDecoder", "BatchOutcome", "Classified", "Rejection"]


class BatchDecoder(Protocol):
    """What the pipeline needs of a decoder (`decoding.AlertDecoder`, or a test's own)."""

    def decode_batch(self, payloads: list[bytes]) -> DecodedBatch: ...


@dataclass(frozen=True)
class Classified:
    """One classified alert: its input index, Kafka key (object id) and output record."""

    index: int
    key: str
    record: dict[str, Any]


@dataclass
class BatchOutcome:
    """Everything one batch produced, plus what monitoring wants to see."""

    classified: list[Classified]
    rejected: list[Rejection]
    times: StageTimes
    features: FeatureBatch | None = None  # one row per classified band (drift input)
    band_points: np.ndarray | None = None  # raw points of each of those bands
    band_probabilities: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # combined, one row per classified alert
    predicted: list[str] = field(default_factory=list)
    band_unknown_scores: np.ndarray | None = None  # per classified band (models with one)
    unknown: np.ndarray | None = None  # flag per classified alert (models with a score)


#: Alerts per chunk of the overlapped pipeline; batches under two chunks run in one piece.
OVERLAP_CHUNK = 64


@dataclass
class _Prepared:
    """One chunk decoded and featurised, waiting for (or back from) inference."""

    decoded: DecodedBatch
    sizes: np.ndarray
    features: FeatureBatch
    rows: np.ndarray
    seg_alert: np.ndarray
    times: StageTimes


#: A chunk in inference: its preparation, the result to come, and its input range.
_InFlight = tuple[_Prepared, "Future[tuple[np.ndarray, np.ndarray | None]]", int, int]


class AlertPipeline:
    """Decode → featurise → classify → combine → build, for one batch of raw payloads.

    `overlap_chunk`: alerts per chunk when a batch is split to overlap inference with
    decoding (0: never split).
    """

    def __init__(self, decoder: BatchDecoder, classifier: Classifier,
                 overlap_chunk: int = OVERLAP_CHUNK) -> None:
        self.decoder = decoder
        self.classifier = classifier
        self.card = classifier.card
        self.builder = RecordBuilder(classifier)
        self.overlap_chunk = overlap_chunk
        self._inference: ThreadPoolExecutor | None = None

    def process(
        self, payloads: Sequence[bytes], ingest_ms: Sequence[int] | int | None = None
    ) -> BatchOutcome:
        """Classify a batch. `ingest_ms`: when each payload reached us (ms since epoch)."""
        payloads = list(payloads)
        n_inputs = len(payloads)
        if ingest_ms is None:
            ingest_ms = int(time.time() * 1000)
        ingest = np.broadcast_to(np.asarray(ingest_ms, dtype=np.int64), (n_inputs,))
        chunk = self.overlap_chunk
        if chunk <= 0 or n_inputs < 2 * chunk:
            prepared = self._prepare(payloads)
            probs, scores = self._infer(prepared)
            return self._build(prepared, probs, scores, ingest)
        return self._overlapped(payloads, ingest, chunk)

    def _overlapped(self, payloads: list[bytes], ingest: np.ndarray, chunk: int
                    ) -> BatchOutcome:
        if self._inference is None:
            self._inference = ThreadPoolExecutor(1, thread_name_prefix="inference")
        starts = list(range(0, len(payloads), chunk))
        if len(payloads) - starts[-1] < chunk // 2 and len(starts) > 1:
            starts.pop()  # fold a small tail into the chunk before it
        bounds = [*starts, len(payloads)]
        parts: list[BatchOutcome] = []
        pending: _InFlight | None = None
        try:
            for lo, hi in pairwise(bounds):
                prepared = self._prepare(payloads[lo:hi])  # overlaps the inference in flight
                future = self._inference.submit(self._infer, prepared)
                if pending is not None:
                    parts.append(self._finish(pending, ingest))
                pending = (prepared, future, lo, hi)
            assert pending is not None
            parts.append(self._finish(pending, ingest))
            pending = None
        finally:
            if pending is not None:  # a chunk failed to decode: let the one in flight end
                pending[1].exception()
        return _concatenate(parts)

    def _finish(self, pending: _InFlight, ingest: np.ndarray) -> BatchOutcome:
        prepared, future, lo, hi = pending
        probs, scores = future.result()
        return _shifted(self._build(prepared, probs, scores, ingest[lo:hi]), lo)

    def _prepare(self, payloads: list[bytes]) -> _Prepared:
        times = StageTimes()
        with times.stage("decode"):
            decoded = self.decoder.decode_batch(payloads)
        with times.stage("features"):
            sizes = np.asarray(decoded.segment_size, dtype=np.int64)
            # The short-curve rule of training and evaluation (broker_plugin.model_inputs).
            inputs = segment_inputs(decoded.time, decoded.mag, sizes, self.card.features,
                                    self.card.min_points)
            seg_alert = np.asarray(decoded.segment_alert, dtype=np.int64)[inputs.rows]
        return _Prepared(decoded, sizes, inputs.features, inputs.rows, seg_alert, times)

    def _infer(self, prepared: _Prepared) -> tuple[np.ndarray, np.ndarray | None]:
        with prepared.times.stage("inference"):
            return self.classifier.predict_scored(prepared.features.x)

    def _build(self, prepared: _Prepared, band_probs: np.ndarray,
               band_scores: np.ndarray | None, ingest: np.ndarray) -> BatchOutcome:
        decoded, sizes, rows, seg_alert = (prepared.decoded, prepared.sizes, prepared.rows,
                                           prepared.seg_alert)
        features, times = prepared.features, prepared.times
        rejected = list(decoded.failures)
        n_alerts = len(decoded.alert_index)

        with times.stage("build"):
            combined = combine_bands(band_probs, sizes[rows], seg_alert, n_alerts)
            threshold = self.classifier.unknown_threshold
            if band_scores is not None and threshold is not None:
                alert_scores = combine_scores(band_scores, sizes[rows], seg_alert, n_alerts)
                scores_l: list[float | None] = alert_scores.tolist()
                flagged_l = (alert_scores > threshold).tolist()
            else:
                scores_l, flagged_l = [None] * n_alerts, [False] * n_alerts
            has_band = np.bincount(seg_alert, minlength=n_alerts) > 0
            classified: list[Classified] = []
            predicted: list[str] = []
            # Python lists once per batch: the per-alert loop below touches no numpy scalars.
            seg_band = [str(b) for b in np.asarray(decoded.segment_band).tolist()]
            size_of = sizes.tolist()
            rows_l = rows.tolist()
            band_lists = band_probs.tolist()
            band_top = band_probs.argmax(axis=1).tolist() if len(band_lists) else []
            combined_l = combined.tolist()
            top = combined.argmax(axis=1).tolist() if n_alerts and combined.shape[1] else []
            # Segment rows of each alert (positions in `rows` for classified bands), grouped
            # once for the whole batch.
            band_rows, band_bounds = _grouped(seg_alert, n_alerts)
            all_rows, all_bounds = _grouped(
                np.asarray(decoded.segment_alert, dtype=np.int64), n_alerts)
            alert_index = np.asarray(decoded.alert_index).tolist()
            alert_id = np.asarray(decoded.alert_id).tolist()
            object_id = np.asarray(decoded.object_id).tolist()
            survey = np.asarray(decoded.survey).tolist()
            schema_id = np.asarray(decoded.schema_id).tolist()
            alert_mjd = np.asarray(decoded.alert_mjd, dtype=np.float64).tolist()
            ingest_l = ingest.tolist()
            publish_ms = int(time.time() * 1000)
            classified_rows = set(rows_l)
            build = self.builder.build
            for a in range(n_alerts):
                index = alert_index[a]
                mine = all_rows[all_bounds[a]:all_bounds[a + 1]]
                if not has_band[a]:
                    counts = {seg_band[r]: size_of[r] for r in mine}
                    rejected.append(
                        Rejection(
                            index,
                            Reason.TOO_FEW_POINTS,
                            f"no band has {min_pairs(self.card.min_points)}+ usable (Δt, Δm) "
                            f"pairs after the feature filters (points per band: "
                            f"{counts or 'none'})",
                            _opt_int(schema_id[a]),
                        )
                    )
                    continue
                bands = [
                    (seg_band[rows_l[i]], size_of[rows_l[i]], band_lists[i], band_top[i])
                    for i in band_rows[band_bounds[a]:band_bounds[a + 1]]
                ]
                skipped = {seg_band[r]: size_of[r] for r in mine if r not in classified_rows}
                record = build(
                    alert_id[a], object_id[a], survey[a], _opt_int(schema_id[a]),
                    alert_mjd[a], combined_l[a], top[a], bands, skipped, ingest_l[index],
                    publish_ms, scores_l[a], flagged_l[a],
                )
                classified.append(Classified(index, str(object_id[a]), record))
                predicted.append(record["predicted_class"])
            keep = has_band
            rejected.sort(key=lambda r: r.index)
        return BatchOutcome(
            classified=classified,
            rejected=rejected,
            times=times,
            features=features,
            band_points=sizes[rows],
            band_probabilities=band_probs,
            probabilities=combined[keep],
            predicted=predicted,
            band_unknown_scores=band_scores,
            unknown=None if band_scores is None else np.asarray(flagged_l, bool)[keep],
        )


def _grouped(owner: np.ndarray, n: int) -> tuple[list[int], list[int]]:
    """(row indices ordered by owner, bounds): owner a's rows are rows[bounds[a]:bounds[a+1]].

    Stable, and `owner` need not be sorted.
    """
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    return order.tolist(), bounds.tolist()


def _shifted(outcome: BatchOutcome, offset: int) -> BatchOutcome:
    """A chunk's outcome with its input indices moved to the whole batch's."""
    if offset:
        outcome.classified = [replace(c, index=c.index + offset) for c in outcome.classified]
        outcome.rejected = [replace(r, index=r.index + offset) for r in outcome.rejected]
    return outcome


def _concatenate(parts: list[BatchOutcome]) -> BatchOutcome:
    """The chunks' outcomes as one batch's (rows in input order, stage seconds summed)."""
    times = StageTimes()
    for part in parts:
        times.add(part.times)

    def joined(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    features = [p.features for p in parts]
    return BatchOutcome(
        classified=[c for p in parts for c in p.classified],
        rejected=[r for p in parts for r in p.rejected],
        times=times,
        features=None if any(f is None for f in features) else FeatureBatch(
            np.concatenate([f.x for f in features if f is not None]),
            np.concatenate([f.lengths for f in features if f is not None])),
        band_points=joined("band_points"),
        band_probabilities=joined("band_probabilities"),
        probabilities=joined("probabilities"),
        predicted=[c for p in parts for c in p.predicted],
        band_unknown_scores=joined("band_unknown_scores"),
        unknown=joined("unknown"),
    )


def _opt_int(value: Any) -> int | None:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if v >= 0 else None
