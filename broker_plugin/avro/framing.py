"""How an Avro body travels in a Kafka message: the Confluent wire format, Avro containers.

Confluent wire format: magic byte 0, the writer schema's registry id as 4 big-endian bytes,
then the schemaless Avro body. An Avro object container file (one per ZTF alert) starts with
``Obj\\x01`` and carries its schema. Which framing a payload uses, with the rejection reasons
of the decoders, is `broker_plugin.decoding.wire`.
"""

from __future__ import annotations

import struct

from broker_plugin.rejections import Reason

MAGIC_BYTE = 0
CONTAINER_MAGIC = b"Obj\x01"
_HEADER = struct.Struct(">BI")
HEADER_SIZE = _HEADER.size  # 5


class WireFormatError(ValueError):
    """A payload whose framing is broken (carries a reason code for the dead-letter topic)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def confluent_header(schema_id: int) -> bytes:
    """The 5 bytes before a body in the Confluent wire format: magic 0, big-endian schema id."""
    if not 0 <= schema_id < 2**32:
        raise ValueError(f"schema id {schema_id} does not fit 4 unsigned bytes")
    return _HEADER.pack(MAGIC_BYTE, schema_id)


def frame_confluent(schema_id: int, body: bytes | bytearray | memoryview) -> bytes:
    """Confluent wire format: magic 0, big-endian schema id, body."""
    return confluent_header(schema_id) + bytes(body)


def split_confluent(payload: bytes) -> tuple[int, memoryview]:
    """(schema id, Avro body) of a Confluent wire-format payload (`WireFormatError` if not)."""
    if len(payload) < HEADER_SIZE:
        raise WireFormatError(
            Reason.TRUNCATED, f"message of {len(payload)} bytes is shorter than the 5-byte header"
        )
    magic, schema_id = _HEADER.unpack_from(payload, 0)
    if magic != MAGIC_BYTE:
        raise WireFormatError(Reason.BAD_MAGIC, f"magic byte is {magic:#04x}, expected 0x00")
    return schema_id, memoryview(payload)[HEADER_SIZE:]
