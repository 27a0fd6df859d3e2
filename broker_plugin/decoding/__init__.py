"""Alert decoding: Kafka payloads (LSST, ZTF, compact) → flat photometry for the featuriser.

Public API::

    from broker_plugin.decoding import AlertDecoder, RegistrySchemaSource, DirectorySchemaSource

    decoder = AlertDecoder(RegistrySchemaSource("http://registry:8081"))   # or
    decoder = AlertDecoder(DirectorySchemaSource("schemas/lsst"))          # .avsc files, or
    decoder = AlertDecoder(FixedSchema(schema_dict), survey="lsst")        # schemaless Avro
    batch = decoder.decode_batch(payloads)      # Sequence[bytes] -> DecodedBatch

Payload framing, per message: Confluent wire format (byte 0, 4-byte big-endian schema id,
Avro body; schema from the source), Avro object container (``Obj\\x01``, schema inside: ZTF),
or schemaless Avro (only with `FixedSchema`).

`DecodedBatch` (no per-alert objects; see `batch.py`):
  per alert row a:   alert_index (input position), alert_id (diaSourceId / candid, str),
                     object_id (diaObjectId / objectId, str), survey, alert_mjd, schema_id (-1)
  per segment row s: segment_alert, segment_band, segment_size — one per (alert, band),
                     points in time order
  flat points:       time (MJD), mag, err (float64; segments back to back, for
                     `broker_plugin.features.featurise_segments(time, mag, segment_size, ...)`)
  failures:          list of Rejection(index, reason, message, schema_id), reasons from
                     `broker_plugin.rejections.Reason`
  to_lightcurves():  one LightCurve per segment (tests, replay).

Schema ids: LSST's convention is major*100 + minor (11.1 → 1101); `DirectorySchemaSource`
reads ``<id>.avsc`` files and lsst-alert-packet's ``schema/M/m/lsst.vM_m.alert.avsc`` layout.
Photometry rules are in `lsst.py` (LSST: scienceFlux nJy → AB mag; 7.x rejected) and `ztf.py`
(apparent magnitude from difference + reference).
"""

from broker_plugin.avro.framing import frame_confluent, split_confluent
from broker_plugin.decoding.batch import DecodedBatch
from broker_plugin.decoding.decoder import AlertDecoder, survey_of
from broker_plugin.decoding.schema_sources import (
    DirectorySchemaSource,
    FixedSchema,
    RegistrySchemaSource,
    SchemaRegistryUnavailableError,
    SchemaSource,
    SchemaSourceError,
    UnknownSchemaError,
    lsst_schema_id,
)

__all__ = [
    "AlertDecoder",
    "DecodedBatch",
    "DirectorySchemaSource",
    "FixedSchema",
    "RegistrySchemaSource",
    "SchemaRegistryUnavailableError",
    "SchemaSource",
    "SchemaSourceError",
    "UnknownSchemaError",
    "frame_confluent",
    "lsst_schema_id",
    "split_confluent",
    "survey_of",
]
