"""Output records: one per classified alert, the same dict for Kafka (Avro) and replay files.

Probabilities are stored as float64 copies of the model's float32 outputs (combined ones are
computed in float64), so a record written by `run` and one written by `classify` from the
same bytes are identical. Per-band answers travel beside the combined one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from broker_plugin.serving.classifier import Classifier

#: predicted_class of an alert whose unknown score is above the model card's threshold.
UNKNOWN_CLASS = "unknown"


class RecordBuilder:
    """Builds output-record dicts (field names follow schemas/ classification schema)."""

    def __init__(self, classifier: Classifier) -> None:
        self.classes = classifier.classes
        self.name = classifier.name
        self.version = classifier.version

    def build(
        self,
        alert_id: Any,
        object_id: Any,
        survey: str,
        schema_id: int | None,
        alert_mjd: float,
        combined: list[float],
        top: int,
        bands: list[tuple[str, int, list[float], int]],
        skipped: dict[str, int],
        ingest_ms: int,
        publish_ms: int,
        unknown_score: float | None = None,
        unknown: bool = False,
    ) -> dict[str, Any]:
        """One alert's record from plain Python values (the pipeline converts once per batch).

        `combined` and each band's probabilities are lists of floats, `top` and each band's
        last item the index of the predicted class; `bands` holds (band, points, probs, top).
        A flagged alert (`unknown`) gets predicted_class "unknown"; its probabilities and
        `probability` (the top one) stay as the model gave them.
        """
        classes = self.classes
        points = {band: n for band, n, _, _ in bands}
        points.update(skipped)
        return {
            "alert_id": _id(alert_id),
            "object_id": str(object_id),
            "survey": str(survey),
            "schema_id": schema_id,
            "alert_mjd": float(alert_mjd),
            "classifier": self.name,
            "classifier_version": self.version,
            "classes": list(classes),
            "probabilities": dict(zip(classes, combined, strict=True)),
            "predicted_class": UNKNOWN_CLASS if unknown else classes[top],
            "probability": combined[top],
            "bands": [
                {
                    "band": band,
                    "points": n,
                    "probabilities": dict(zip(classes, probs, strict=True)),
                    "predicted_class": classes[band_top],
                }
                for band, n, probs, band_top in bands
            ],
            "points_per_band": points,
            "ingest_time_ms": int(ingest_ms),
            "publish_time_ms": int(publish_ms),
            "unknown_score": unknown_score,
            "is_unknown": bool(unknown),
        }


def _id(value: Any) -> str:
    return str(int(value)) if isinstance(value, np.integer | int) else str(value)


