"""Why an input was not classified: one vocabulary for decoders, pipeline, DLQ and metrics.

Every rejection carries a `Reason` (its value is the code in the dead-letter header
`dlq.reason`, the `reason`/`error` label of the metrics, the `reason` of `classify`'s
rejects file) and a one-line message about that input. The README's table of reasons is
checked against `DESCRIPTIONS` by a test. Reasons in `NOT_FAILURES` are about the data (a
young object has too few points), not errors: they are dead-lettered but do not count as
failures (`broker_plugin_alerts_failed_total`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Codes of rejected inputs (values are the strings on the wire and in metrics)."""

    BAD_MAGIC = "bad_magic"
    TRUNCATED = "truncated"
    EMPTY_PAYLOAD = "empty_payload"
    UNKNOWN_SCHEMA = "unknown_schema"
    AVRO_ERROR = "avro_error"
    UNSUPPORTED_SCHEMA = "unsupported_schema"
    NO_OBJECT_ID = "no_object_id"
    NO_POINTS = "no_points"
    TOO_FEW_POINTS = "too_few_points"
    UNENCODABLE_ID = "unencodable_id"
    INTERNAL_ERROR = "internal_error"

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Reason, str] = {
    Reason.BAD_MAGIC: "the first byte is not the Confluent wire format's magic 0 (and the "
                      "payload is not an Avro container either)",
    Reason.TRUNCATED: "shorter than its framing or schema says",
    Reason.EMPTY_PAYLOAD: "a message with no bytes",
    Reason.UNKNOWN_SCHEMA: ('no schema for its schema id (the registry answered "not found", '
                            "or --schema-dir has none)"),
    Reason.AVRO_ERROR: "the body does not decode with its writer schema",
    Reason.UNSUPPORTED_SCHEMA: "a schema we do not classify (e.g. LSST 7.x and older: no "
                               "total flux)",
    Reason.NO_OBJECT_ID: "an alert without an object id to key the output by",
    Reason.NO_POINTS: "no usable photometry point",
    Reason.TOO_FEW_POINTS: "no band has min_points − 1 usable (Δt, Δm) pairs after the "
                           "feature filters (the model card's min_points)",
    Reason.UNENCODABLE_ID: "--output-format elasticc needs integer alert ids",
    Reason.INTERNAL_ERROR: "a bug of ours met on this input (logged with a traceback once "
                           "per kind): please report it",
}

#: Dead-lettered but not failures: the alert is fine, the object is young or empty.
NOT_FAILURES = frozenset({Reason.TOO_FEW_POINTS, Reason.NO_POINTS})


@dataclass(frozen=True, slots=True)
class Rejection:
    """One input that was not classified: where it was, why, and its writer schema id."""

    index: int
    reason: Reason
    message: str
    schema_id: int | None = None
