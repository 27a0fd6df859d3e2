"""Framing of Kafka payloads: Confluent wire format, Avro object containers, schemaless Avro.

Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the schemaless Avro
body. Avro object container files start with ``Obj\\x01`` (ZTF publishes one alert per
container). Anything else is taken as schemaless Avro, readable only with a configured schema.
The bytes of both framings (header, magic, `frame_confluent`, `split_confluent`) are
`broker_plugin.avro.framing`'s; this module decides which one a payload uses.
"""

from __future__ import annotations

from enum import Enum

from broker_plugin.avro.framing import CONTAINER_MAGIC, HEADER_SIZE, MAGIC_BYTE, WireFormatError
from broker_plugin.rejections import Reason

__all__ = ["Framing", "WireFormatError", "framing_of"]


class Framing(Enum):
    """How one payload is framed."""

    CONFLUENT = "confluent"
    CONTAINER = "container"
    SCHEMALESS = "schemaless"


def framing_of(payload: bytes, *, schemaless_allowed: bool) -> Framing:
    """Which framing `payload` uses; `schemaless_allowed` when a fixed schema is configured.

    A schemaless body may legitimately start with byte 0, so with a fixed schema configured a
    leading 0 is still read as the Confluent header only when the payload is long enough.
    """
    if payload[:4] == CONTAINER_MAGIC:
        return Framing.CONTAINER
    if schemaless_allowed:
        return Framing.SCHEMALESS
    if len(payload) >= HEADER_SIZE and payload[0] == MAGIC_BYTE:
        return Framing.CONFLUENT
    if not payload:
        raise WireFormatError(Reason.EMPTY_PAYLOAD, "empty message (0 bytes)")
    if len(payload) < HEADER_SIZE and payload[0] == MAGIC_BYTE:
        raise WireFormatError(
            Reason.TRUNCATED, f"message of {len(payload)} bytes is shorter than the 5-byte header"
        )
    raise WireFormatError(
        Reason.BAD_MAGIC,
        f"first byte is {payload[0]:#04x}, expected 0x00 (Confluent wire format) or an Avro "
        "container ('Obj\\x01'); configure a fixed schema for schemaless Avro",
    )
