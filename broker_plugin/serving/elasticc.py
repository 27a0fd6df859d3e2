"""`--output-format elasticc`: our records as ELAsTiCC `brokerClassification` (v0.9.1) messages.

The schema is `schemas/elasticc_brokerClassification.avsc` (namespace `elasticc.v0_9_1`),
written in the Confluent wire format like our own `avro` output (magic byte 0, 4-byte schema
id, schemaless Avro body; the registry's id with `--schema-registry-url`, subject
`<output-topic>-value`). One output record (schemas/classification.avsc) becomes one message:

* `alertId` and `diaSourceId` both come from our `alert_id`, the LSST diaSourceId of the
  classified alert. ELAsTiCC alerts carry an alertId distinct from the diaSourceId, but our
  record keeps only the source id, so the two fields are equal. A numeric id of another
  survey (a ZTF candid, a compact alert's id) passes through as it is.
* An `alert_id` that is not a 64-bit integer (a compact alert with a text id, say) cannot
  be expressed. `ElasticcPipeline` (what `run` uses with this format) sends such an alert
  to the dead-letter topic instead of the output topic: reason `unencodable_id`, the
  original bytes untouched, like every other reject, counted as a failure in the metrics
  (it means the input does not fit the chosen format). Calling the serializer directly with
  such a record raises `ElasticcIdError` (a `ValueError` carrying the same reason code).
* `elasticcPublishTimestamp` and `brokerIngestTimestamp`: our `ingest_time_ms`, when the
  alert reached the plugin. Our record does not keep the input message's Kafka timestamp
  (ELAsTiCC's publish time), so the publish timestamp is the earliest time we know, slightly
  later than the true one: latencies measured from it are a little short.
* `brokerName` is "selfreg-varstars", `brokerVersion` the installed package's version
  (importlib.metadata; "0+unknown" when it is not installed), `classifierName` the model
  card's name and `classifierParams` its version.
* `classifications`: one entry per ELAsTiCC class, CEP 2322, RRLYR 2323, DSCT 2324,
  ECL 2325, LPV 2326. A model class with no ELAsTiCC id goes to 2321 (periodic/other); when
  several do, their probabilities are summed into one entry. The entries are renormalised
  to sum to 1 (the model's float32 softmax may miss by ~1e-7).
* Unknown rule: when `is_unknown` is true, an entry {classId 300 (not classified),
  probability `UNKNOWN_SHARE` = 0.5} is added and the class probabilities are scaled by
  1 - 0.5, so the total stays 1 and their ranking is kept. Why a fixed half rather than
  1 - max(p): the flag means the unknown detector thinks the object is none of the classes
  even when the softmax is confident (it often is, out of distribution), so 1 - max(p) would
  hand "unknown" almost nothing exactly when the flag fires; the unknown score itself is a
  distance, not a probability, so it gives no calibrated share either. Half makes 300 the
  top entry (ties only when the model put all its mass on one class), agreeing with our
  `predicted_class` "unknown", while the runner-up classes keep the model's opinion. Alerts
  that are not flagged (and models without an unknown detector) get no 300 entry. A record
  whose probabilities do not sum to a positive finite number gets [{300, 1.0}].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from broker_plugin.avro import schema_files
from broker_plugin.rejections import Reason, Rejection
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.pipeline import AlertPipeline, BatchOutcome

BROKER_NAME = "selfreg-varstars"
#: ELAsTiCC taxonomy ids (LSSTDESC/elasticc taxonomy/taxonomy.ipynb).
NOT_CLASSIFIED = 300
OTHER_PERIODIC = 2321
CLASS_IDS: dict[str, int] = {"CEP": 2322, "RRLYR": 2323, "DSCT": 2324, "ECL": 2325, "LPV": 2326}
#: Probability of classId 300 when the record is flagged unknown (see the module docstring).
UNKNOWN_SHARE = 0.5
#: Dead-letter reason of an alert whose id is not a 64-bit integer.
UNENCODABLE_ID = Reason.UNENCODABLE_ID

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class ElasticcIdError(ValueError):
    """An alert id that ELAsTiCC's `long` alertId/diaSourceId cannot carry."""

    reason = UNENCODABLE_ID


def package_version() -> str:
    """The installed selfreg-varstars version, "0+unknown" outside an installation."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(BROKER_NAME)
    except PackageNotFoundError:
        return "0+unknown"


def elasticc_schema() -> dict[str, Any]:
    """The brokerClassification schema as JSON (unparsed: for the writer and the registry)."""
    return schema_files.raw(schema_files.ELASTICC)


def source_id(alert_id: Any) -> int | None:
    """`alert_id` (text or int) as a 64-bit integer, or None when it is not one."""
    if isinstance(alert_id, int):
        value = alert_id
    else:
        text = str(alert_id)
        digits = text[1:] if text[:1] == "-" else text
        if not (digits.isascii() and digits.isdigit()):
            return None
        value = int(text)
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def id_problem(alert_id: Any) -> str:
    """The one-line reason an id cannot be sent (dead-letter message and exception text)."""
    return (
        f"alert id {str(alert_id)!r} is not a 64-bit integer; --output-format elasticc "
        "carries LSST diaSourceIds (Avro long) only"
    )


def class_plan(classes: Sequence[str]) -> list[tuple[int, tuple[str, ...]]]:
    """(ELAsTiCC id, our classes summed into it) in first-seen order of the model's classes."""
    groups: dict[int, list[str]] = {}
    for name in classes:
        groups.setdefault(CLASS_IDS.get(name, OTHER_PERIODIC), []).append(name)
    return [(class_id, tuple(names)) for class_id, names in groups.items()]


class ElasticcMapper:
    """`convert(record)`: one of our output records → a brokerClassification dict."""

    def __init__(self, broker_version: str | None = None) -> None:
        self.broker_version = broker_version or package_version()
        self._plans: dict[tuple[str, ...], list[tuple[int, tuple[str, ...]]]] = {}

    def convert(self, record: Mapping[str, Any]) -> dict[str, Any]:
        ident = source_id(record["alert_id"])
        if ident is None:
            raise ElasticcIdError(id_problem(record["alert_id"]))
        probs = record["probabilities"]
        key = tuple(probs)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = class_plan(key)
        values = [
            (class_id, probs[names[0]] if len(names) == 1 else sum(probs[n] for n in names))
            for class_id, names in plan
        ]
        total = sum(v for _, v in values)
        if not (total > 0 and math.isfinite(total)):
            classifications = [{"classId": NOT_CLASSIFIED, "probability": 1.0}]
        else:
            unknown = bool(record.get("is_unknown"))
            scale = ((1.0 - UNKNOWN_SHARE) if unknown else 1.0) / total
            classifications = [
                {"classId": class_id, "probability": v * scale} for class_id, v in values
            ]
            if unknown:
                classifications.append({"classId": NOT_CLASSIFIED, "probability": UNKNOWN_SHARE})
        ingest = int(record["ingest_time_ms"])
        return {
            "alertId": ident,
            "diaSourceId": ident,
            "elasticcPublishTimestamp": ingest,
            "brokerIngestTimestamp": ingest,
            "brokerName": BROKER_NAME,
            "brokerVersion": self.broker_version,
            "classifierName": str(record["classifier"]),
            "classifierParams": str(record["classifier_version"]),
            "classifications": classifications,
        }


class ElasticcSerializer(OutputSerializer):
    """Our records in, ELAsTiCC brokerClassification messages (Confluent wire format) out."""

    def __init__(
        self,
        schema: dict[str, Any] | None = None,
        schema_id: int = 1,
        mapper: ElasticcMapper | None = None,
    ) -> None:
        super().__init__("avro", schema or elasticc_schema(), schema_id)
        self.format = "elasticc"
        self.mapper = mapper or ElasticcMapper()
        self._convert = self.mapper.convert

    def serialize(self, record: dict[str, Any]) -> bytes:
        """Raises `ElasticcIdError` for an id that is not a 64-bit integer."""
        return super().serialize(self._convert(record))


def dead_letter_unencodable(outcome: BatchOutcome) -> BatchOutcome:
    """`outcome` with alerts whose id ELAsTiCC cannot carry moved to the rejects.

    The per-alert arrays monitoring reads (probabilities, predicted, unknown) follow the
    classified list; the per-band drift input is left whole (the model did see those bands).
    """
    classified = outcome.classified
    bad = [i for i, c in enumerate(classified) if source_id(c.record["alert_id"]) is None]
    if not bad:
        return outcome
    keep = np.ones(len(classified), dtype=bool)
    keep[bad] = False
    rejected = list(outcome.rejected)
    for i in bad:
        record = classified[i].record
        rejected.append(
            Rejection(
                classified[i].index,
                UNENCODABLE_ID,
                id_problem(record["alert_id"]),
                record.get("schema_id"),
            )
        )
    rejected.sort(key=lambda r: r.index)
    n = len(classified)

    def aligned(values: Any) -> Any:
        if values is None or len(values) != n:
            return values
        if isinstance(values, np.ndarray):
            return values[keep]
        return [v for v, k in zip(values, keep.tolist(), strict=True) if k]

    return replace(
        outcome,
        classified=[c for c, k in zip(classified, keep.tolist(), strict=True) if k],
        rejected=rejected,
        probabilities=aligned(outcome.probabilities),
        predicted=aligned(outcome.predicted),
        unknown=aligned(outcome.unknown),
    )


class ElasticcPipeline(AlertPipeline):
    """The serving pipeline, with ids ELAsTiCC cannot carry dead-lettered (`UNENCODABLE_ID`)."""

    @classmethod
    def wrapping(cls, pipeline: AlertPipeline) -> ElasticcPipeline:
        """The same decoder and classifier behind the elasticc guard."""
        return cls(pipeline.decoder, pipeline.classifier, pipeline.overlap_chunk)

    def process(
        self, payloads: Sequence[bytes], ingest_ms: Sequence[int] | int | None = None
    ) -> BatchOutcome:
        return dead_letter_unencodable(super().process(payloads, ingest_ms))
