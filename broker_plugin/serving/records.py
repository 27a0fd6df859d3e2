"""Output records: one per classified alert, the same dict for Kafka (Avro) and replay files.

Probabilities are stored as float64 copies of the model's float32 outputs (combined ones are
computed in float64), so a record written by `run` and one written by `classify` from the
same bytes are identical. Per-band answers travel beside the combined one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from broker_plugin.serving.classifier import Classifier


class RecordBuilder:
    """Builds output-record dicts (field names follow schemas/ classification schema)."""

    def __init__(self, classifier: Classifier) -> None:
        self.classes = classifier.classes
        self.name = classifier.name
        self.version = classifier.version

    def build(
        self,
        decoded: Any,
        a: int,
        combined: np.ndarray,
        bands: list[tuple[str, int, np.ndarray]],
        skipped: dict[str, int],
        ingest_ms: int,
        publish_ms: int,
    ) -> dict[str, Any]:
        """The record of alert row `a` of a decoded batch."""
        classes = self.classes
        top = int(np.argmax(combined))
        points = {band: n for band, n, _ in bands}
        points.update(skipped)
        return {
            "alert_id": _id(decoded.alert_id[a]),
            "object_id": str(decoded.object_id[a]),
            "survey": str(decoded.survey[a]),
            "schema_id": _opt_int(decoded.schema_id[a]),
            "alert_mjd": float(decoded.alert_mjd[a]),
            "classifier": self.name,
            "classifier_version": self.version,
            "classes": list(classes),
            "probabilities": {c: float(p) for c, p in zip(classes, combined, strict=True)},
            "predicted_class": classes[top],
            "probability": float(combined[top]),
            "bands": [
                {
                    "band": band,
                    "points": n,
                    "probabilities": {c: float(p) for c, p in zip(classes, probs, strict=True)},
                    "predicted_class": classes[int(np.argmax(probs))],
                }
                for band, n, probs in bands
            ],
            "points_per_band": points,
            "ingest_time_ms": int(ingest_ms),
            "publish_time_ms": int(publish_ms),
        }


def _id(value: Any) -> str:
    return str(int(value)) if isinstance(value, np.integer | int) else str(value)


def _opt_int(value: Any) -> int | None:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if v >= 0 else None
