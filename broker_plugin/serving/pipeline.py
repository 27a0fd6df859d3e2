"""The transport-free core shared by `run` (Kafka) and `classify` (files): bytes in, answers out.

    payloads ─decode─▶ flat (alert, band) segments ─featurise─▶ (n, 2, L) ─onnxruntime─▶
    band probabilities ─combine─▶ one answer per alert ─build─▶ output records

Whatever cannot be classified comes back as a `Rejection` (reason code, message, schema id)
for the dead-letter topic or the replay's rejects file; the batch itself never fails for one
bad input. Bands with fewer than the card's `min_points` points (or no usable Δt/Δm pair
after the featuriser's filters) are skipped; an alert with no usable band is rejected as
`too_few_points`. Everything is vectorised per batch; the only per-alert Python is record
building.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from broker_plugin.features import FeatureBatch, featurise_segments
from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.combine import combine_bands
from broker_plugin.serving.records import RecordBuilder
from broker_plugin.serving.timing import StageTimes

TOO_FEW_POINTS = "too_few_points"


@dataclass(frozen=True)
class Rejection:
    """One input that could not be classified, with the reason code the DLQ headers carry."""

    index: int
    reason: str
    message: str
    schema_id: int | None = None


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


class AlertPipeline:
    """Decode → featurise → classify → combine → build, for one batch of raw payloads."""

    def __init__(self, decoder: Any, classifier: Classifier) -> None:
        self.decoder = decoder
        self.classifier = classifier
        self.card = classifier.card
        self.builder = RecordBuilder(classifier)

    def process(
        self, payloads: Sequence[bytes], ingest_ms: Sequence[int] | int | None = None
    ) -> BatchOutcome:
        """Classify a batch. `ingest_ms`: when each payload reached us (ms since epoch)."""
        times = StageTimes()
        n_inputs = len(payloads)
        if ingest_ms is None:
            ingest_ms = int(time.time() * 1000)
        ingest = np.broadcast_to(np.asarray(ingest_ms, dtype=np.int64), (n_inputs,))

        with times.stage("decode"):
            decoded = self.decoder.decode_batch(list(payloads))
        rejected = [
            Rejection(int(f[0]), str(f[1]), str(f[2]), None if f[3] is None else int(f[3]))
            for f in decoded.failures
        ]
        n_alerts = len(decoded.alert_index)

        with times.stage("features"):
            sizes = np.asarray(decoded.segment_size, dtype=np.int64)
            usable = sizes >= max(int(self.card.min_points), 2)
            point_mask = np.repeat(usable, sizes)
            features = featurise_segments(
                np.asarray(decoded.time)[point_mask],
                np.asarray(decoded.mag)[point_mask],
                sizes[usable],
                self.card.features,
            )
            has_pairs = features.lengths > 0
            rows = np.flatnonzero(usable)[has_pairs]
            features = FeatureBatch(x=features.x[has_pairs], lengths=features.lengths[has_pairs])
            seg_alert = np.asarray(decoded.segment_alert, dtype=np.int64)[rows]

        with times.stage("inference"):
            band_probs = self.classifier.predict(features.x)

        with times.stage("build"):
            combined = combine_bands(band_probs, sizes[rows], seg_alert, n_alerts)
            has_band = np.bincount(seg_alert, minlength=n_alerts) > 0
            classified: list[Classified] = []
            predicted: list[str] = []
            seg_band = np.asarray(decoded.segment_band)
            seg_all_alert = np.asarray(decoded.segment_alert, dtype=np.int64)
            # Segment rows of each alert, grouped once for the whole batch.
            band_rows_of = _group(seg_alert, n_alerts)
            all_rows_of = _group(seg_all_alert, n_alerts)
            publish_ms = int(time.time() * 1000)
            classified_rows = set(rows.tolist())
            for a in range(n_alerts):
                index = int(decoded.alert_index[a])
                if not has_band[a]:
                    counts = {str(seg_band[r]): int(sizes[r]) for r in all_rows_of[a]}
                    rejected.append(
                        Rejection(
                            index,
                            TOO_FEW_POINTS,
                            f"no band has {self.card.min_points}+ usable points "
                            f"(points per band: {counts or 'none'})",
                            _opt_int(decoded.schema_id[a]),
                        )
                    )
                    continue
                # band_rows_of[a] holds positions in `rows` (= rows of band_probs).
                bands = [
                    (str(seg_band[rows[i]]), int(sizes[rows[i]]), band_probs[i])
                    for i in band_rows_of[a]
                ]
                skipped = {
                    str(seg_band[r]): int(sizes[r])
                    for r in all_rows_of[a]
                    if int(r) not in classified_rows
                }
                record = self.builder.build(
                    decoded, a, combined[a], bands, skipped, int(ingest[index]), publish_ms
                )
                classified.append(Classified(index, str(decoded.object_id[a]), record))
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
        )


def _group(owner: np.ndarray, n: int) -> list[np.ndarray]:
    """Row indices per owner (owner need not be sorted)."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def _opt_int(value: Any) -> int | None:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if v >= 0 else None
