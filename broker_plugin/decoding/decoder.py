"""`AlertDecoder`: raw Kafka payloads in, one flat `DecodedBatch` out.

For each payload: framing (Confluent / container / schemaless) → writer schema → survey →
photometry. LSST bodies go through the projection decoder (`projection.py`), which reads only
what the light curve needs; ``fast=False`` uses plain fastavro for everything (the reference
the tests and the benchmark compare against). One bad payload becomes a `Rejection`; the batch
goes on.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import fastavro
import numpy as np

from broker_plugin.avro.framing import split_confluent
from broker_plugin.avro.names import schema_namespace, zero_byte_array
from broker_plugin.decoding import compact, lsst, ztf
from broker_plugin.decoding.batch import BatchBuilder, DecodedBatch
from broker_plugin.decoding.schema_sources import (
    FixedSchema,
    SchemaRegistryUnavailableError,
    SchemaSource,
    UnknownSchemaError,
)
from broker_plugin.decoding.wire import Framing, WireFormatError, framing_of
from broker_plugin.errors import UserError
from broker_plugin.rejections import Reason, Rejection

log = logging.getLogger("broker_plugin.decoding")

SURVEYS = ("auto", "lsst", "ztf", "compact")
#: Bound on the layouts kept for container schemas (each container names its own).
MAX_CACHED_LAYOUTS = 64


class DecoderConfigError(UserError, ValueError):
    """An AlertDecoder configured with an unknown option value."""


def survey_of(schema: Mapping[str, Any]) -> str | None:
    """Survey of a writer schema from its name/namespace, None if unrecognised."""
    name = str(schema.get("name", ""))
    namespace = schema_namespace(schema)
    if namespace.startswith("lsst"):
        return "lsst"
    if namespace.startswith("ztf") or name.startswith("ztf."):
        return "ztf"
    if name.endswith("compact_alert"):
        return "compact"
    return None


class AlertDecoder:
    """Decode batches of alert payloads into flat photometry.

    Args:
        schema_source: where writer schemas come from (registry, directory, fixed schema);
            None is allowed when every payload is an Avro container (schema inside).
        survey: "auto" (from the schema's namespace), or force "lsst" / "ztf" / "compact".
        fast: use the projection decoder for LSST (False: plain fastavro, the reference).
        include_forced: add LSST forced photometry (prvDiaForcedSources) points.
        ztf_magnitude: "dc" (apparent magnitude from the reference) or "difference" (magpsf).
    """

    def __init__(
        self,
        schema_source: SchemaSource | None = None,
        survey: str = "auto",
        *,
        fast: bool = True,
        include_forced: bool = True,
        ztf_magnitude: str = "dc",
    ) -> None:
        if survey not in SURVEYS:
            raise DecoderConfigError(f"survey {survey!r} is not one of {', '.join(SURVEYS)}")
        if ztf_magnitude not in ("dc", "difference"):
            raise DecoderConfigError(
                f"ztf_magnitude {ztf_magnitude!r} is not one of dc, difference"
            )
        self.schema_source = schema_source
        self.survey = survey
        self.fast = fast
        self.include_forced = include_forced
        self.ztf_magnitude = ztf_magnitude
        self._schemaless = isinstance(schema_source, FixedSchema)
        self._plans: dict[int | None, Any] = {}
        self._layouts: dict[int | str | None, lsst.LsstLayout] = {}
        #: Schema checks passed, by (what, schema id or container schema text).
        self._checked: set[tuple[str, int | str | None]] = set()

    def decode_batch(self, payloads: Sequence[bytes]) -> DecodedBatch:
        """Decode every payload; failures are collected, never raised.

        LSST bodies for the projection decoder are set aside and decoded together per schema
        (its numpy walks cost per batch, not per alert); results keep the input order.
        """
        results: list[list[tuple[Any, ...]] | Rejection] = [[] for _ in payloads]
        deferred: dict[int, tuple[Any, list[tuple[int, int | None, memoryview]]]] = {}
        for index, payload in enumerate(payloads):
            schema_id: int | None = None
            try:
                framing = framing_of(payload, schemaless_allowed=self._schemaless)
                if framing is Framing.CONTAINER:
                    results[index] = self._decode_container(payload)
                    continue
                if framing is Framing.CONFLUENT:
                    schema_id, body = split_confluent(payload)
                else:
                    schema_id = getattr(self.schema_source, "schema_id", None)
                    body = memoryview(payload)
                if self.schema_source is None:
                    raise UnknownSchemaError(
                        "no schema source configured (give a schema registry URL or a schema "
                        "directory)"
                    )
                schema = self.schema_source.get(schema_id)
                survey = self._survey_for(schema)
                if survey == "lsst" and self.fast:
                    plan = self._plan(schema_id, schema)
                    deferred.setdefault(id(plan), (plan, []))[1].append((index, schema_id, body))
                    continue
                results[index] = [self._decode_body(schema_id, survey, schema, body)]
            except Exception as exc:
                results[index] = _failure(index, exc, schema_id)
        for plan, items in deferred.values():
            decoded = plan.decode_many([body for _, _, body in items])
            for (index, schema_id, _), result in zip(items, decoded, strict=True):
                results[index] = (_failure(index, result, schema_id)
                                  if isinstance(result, Exception)
                                  else [(schema_id, "lsst", result)])
        out = BatchBuilder()
        for index, result in enumerate(results):
            if isinstance(result, Rejection):
                out.failures.append(result)
                continue
            for schema_id, survey, decoded in result:
                self._add(index, schema_id, survey, decoded, out)
        return out.build()

    # -- one payload ------------------------------------------------------------------------

    def _survey_for(self, schema: Mapping[str, Any]) -> str:
        if self.survey != "auto":
            return self.survey
        found = survey_of(schema)
        if found is None:
            raise lsst.UnsupportedSchemaError(
                f"schema {schema.get('name')!r} is not an LSST, ZTF or compact alert schema; "
                "set the survey explicitly if it is one"
            )
        return found

    def _decode_container(self, payload: bytes) -> list[tuple[Any, ...]]:
        try:
            reader = fastavro.reader(io.BytesIO(payload))
        except Exception as exc:  # only fastavro runs here: whatever it raises, a bad header
            # (found by bench/fuzz.py: KeyError without 'avro.schema', SchemaParseException)
            raise WireFormatError(
                Reason.AVRO_ERROR,
                f"Avro container header is not readable ({type(exc).__name__}: {exc})",
            ) from None
        schema = cast(dict[str, Any], reader.writer_schema)
        survey = self._survey_for(schema)
        # A container carries its schema: key the layout by the schema's text, so equal
        # schemas share one entry and a new parse of each message does not add one.
        key = str(reader.metadata.get("avro.schema", ""))
        if ("container", key) not in self._checked:
            bomb = zero_byte_array(schema)
            if bomb is not None:
                raise lsst.UnsupportedSchemaError(
                    f"the container's schema makes {bomb} an array of 0-byte items: its "
                    "length would be bounded by nothing but the count the message claims"
                )
            self._check_passed(("container", key))
        extract = self._extractor(survey, key, schema)
        return [(None, survey, extract(record)) for record in reader]

    def _decode_body(
        self, schema_id: int | None, survey: str, schema: Mapping[str, Any], body: memoryview
    ) -> tuple[Any, ...]:
        extract = self._extractor(survey, schema_id, schema)  # rejects unsupported schemas
        record = fastavro.schemaless_reader(io.BytesIO(body), cast(dict[str, Any], schema), None)
        return schema_id, survey, extract(cast(Mapping[str, Any], record))

    def _plan(self, schema_id: int | None, schema: Mapping[str, Any]) -> Any:
        """The projection decoder of a schema id (a source answers one schema per id)."""
        from broker_plugin.decoding.projection import LsstProjection

        plan = self._plans.get(schema_id)
        if plan is None:
            plan = LsstProjection(schema, include_forced=self.include_forced)
            self._plans[schema_id] = plan
        return plan

    def _extractor(self, survey: str, key: int | str | None, schema: Mapping[str, Any]
                   ) -> Callable[[Any], tuple[Any, ...]]:
        """How to read a record of `schema`; `key` names the schema (its id, or its text)."""
        if survey == "lsst":
            layout = self._layouts.get(key)
            if layout is None:
                if len(self._layouts) >= MAX_CACHED_LAYOUTS:
                    self._layouts.clear()  # a stream of ever-new container schemas
                layout = self._layouts[key] = lsst.LsstLayout.of(schema)
            return lambda rec: lsst.points_from_dict(rec, layout, self.include_forced)
        if survey == "ztf":
            if ("ztf", key) not in self._checked:
                ztf.check_schema(schema)
                self._check_passed(("ztf", key))
            return lambda rec: ztf.points_from_dict(rec, self.ztf_magnitude)
        return compact.points_from_dict

    def _check_passed(self, what: tuple[str, int | str | None]) -> None:
        """Remember a schema check that passed (bounded: containers can name ever-new ones)."""
        if len(self._checked) >= 2 * MAX_CACHED_LAYOUTS:
            self._checked.clear()
        self._checked.add(what)

    @staticmethod
    def _add(
        index: int, schema_id: int | None, survey: str, decoded: tuple[Any, ...], out: BatchBuilder
    ) -> None:
        alert_id, object_id, alert_mjd, (band, time, mag, err) = decoded
        if object_id is None:
            out.fail(index, Reason.NO_OBJECT_ID, f"alert {alert_id} has no diaObjectId", schema_id)
            return
        out.add(index, alert_id, object_id, survey, alert_mjd, schema_id,
                np.asarray(band), time, mag, err)


#: What fastavro, struct and our walkers raise on bytes that do not match their schema.
#: Anything else raised while decoding one payload is a bug of ours (`internal_error`).
CORRUPT_DATA_ERRORS = (EOFError, ValueError, struct.error, IndexError, OverflowError)
_logged_internal: set[str] = set()


def _failure(index: int, exc: Exception, schema_id: int | None) -> Rejection:
    """The `Rejection` (reason code, one-line message) for an exception raised on one payload."""
    payload_errors = (WireFormatError, UnknownSchemaError, lsst.UnsupportedSchemaError)
    if isinstance(exc, SchemaRegistryUnavailableError) or (
            isinstance(exc, UserError) and not isinstance(exc, payload_errors)):
        raise exc  # an outage or a configuration mistake, not a bad payload
    if isinstance(exc, WireFormatError):
        return Rejection(index, exc.reason, str(exc), schema_id)
    if isinstance(exc, UnknownSchemaError):
        return Rejection(index, Reason.UNKNOWN_SCHEMA, str(exc), schema_id)
    if isinstance(exc, lsst.UnsupportedSchemaError):
        return Rejection(index, Reason.UNSUPPORTED_SCHEMA, str(exc), schema_id)
    if isinstance(exc, CORRUPT_DATA_ERRORS):
        return Rejection(index, Reason.AVRO_ERROR, f"{type(exc).__name__}: {exc}", schema_id)
    kind = type(exc).__name__
    if kind not in _logged_internal:  # once per kind: a bug repeats on every such alert
        _logged_internal.add(kind)
        log.error("internal error decoding payload %d (schema id %s); dead-lettered as %s",
                  index, schema_id, Reason.INTERNAL_ERROR, exc_info=exc)
    return Rejection(index, Reason.INTERNAL_ERROR, f"{kind}: {exc}", schema_id)
