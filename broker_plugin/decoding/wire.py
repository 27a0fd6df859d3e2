"""Framing of Kafka payloads: Confluent wire format, Avro object containers, schemaless Avro.

Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the schemaless Avro
body. Avro object container files start with ``Obj\\x01`` (ZTF publishes one alert per
container). Anything else is taken as schemaless Avro, readable only with a configured schema.
"""

from __future__ import annotations

import struct
from enum import Enum

from broker_plugin.rejections import Reason

MAGIC_BYTE = 0
CONTAINER_MAGIC = b"Obj\x01"
_HEADER = struct.Struct(">BI")
HEADER_SIZE = _HEADER.size  # 5


class Framing(Enum):
    """How one payload is framed."""

    CONFLUENT = "confluent"
    CONTAINER = "container"
    SCHEMALESS = "schemaless"


class WireFormatError(ValueError):
    """A payload whose framing is broken (carries a reason code for the dead-letter topic)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


def split_confluent(payload: bytes) -> tuple[int, memoryview]:
    """(schema id, Avro body) of a Confluent wire-format payload."""
    if len(payload) < HEADER_SIZE:
        raise WireFormatError(
            Reason.TRUNCATED, f"message of {len(payload)} bytes is shorter than the 5-byte header"
        )
    magic, schema_id = _HEADER.unpack_from(payload, 0)
    if magic != MAGIC_BYTE:
        raise WireFormatError(Reason.BAD_MAGIC, f"magic byte is {magic:#04x}, expected 0x00")
    return schema_id, memoryview(payload)[HEADER_SIZE:]


def frame_confluent(schema_id: int, body: bytes) -> bytes:
    """Confluent wire format: magic 0, big-endian schema id, body."""
    if not 0 <= schema_id < 2**32:
        raise ValueError(f"schema id {schema_id} does not fit 4 unsigned bytes")
    return _HEADER.pack(MAGIC_BYTE, schema_id) + bytes(body)
