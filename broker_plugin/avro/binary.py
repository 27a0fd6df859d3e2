"""Avro's binary encoding, one value at a time: zig-zag varints, and skipping any value.

A long (also an int, an enum index, a union branch, a length or a block count) is zig-zag
mapped to an unsigned number (0, -1, 1, -2 → 0, 1, 2, 3), then written 7 bits per byte, low
bits first, with the high bit set on every byte but the last: 1 to 10 bytes. The vectorised
versions, for many positions of one buffer at once, are in `vectorised.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker_plugin.avro.names import FIXED_SIZES, LENGTH_PREFIXED, VARINT_KINDS, resolve


def branch_byte(index: int) -> int:
    """The one byte that selects union branch `index` (below 64: always one byte)."""
    if not 0 <= index < 64:
        raise ValueError(f"union branch {index} does not fit one byte")
    return index << 1


def write_long(out: bytearray, n: int) -> None:
    """Append the varint encoding of `n` (a long, an int, a length, a count) to `out`."""
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def encode_long(n: int) -> bytes:
    """The varint encoding of `n`."""
    out = bytearray()
    write_long(out, n)
    return bytes(out)


def write_bytes(out: bytearray, b: bytes) -> None:
    """Append length-prefixed bytes (a UTF-8 string's encoding, once encoded)."""
    write_long(out, len(b))
    out += b


def read_long(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at `pos` (IndexError past the end)."""
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), pos


def skip(t: Any, buf: bytes | memoryview, pos: int, named: Mapping[str, Any]) -> int:
    """Position after a value of Avro type `t` at `pos` (any type; names through `named`)."""
    if isinstance(t, str):
        size = FIXED_SIZES.get(t)
        if size is not None:
            return pos + size
        if t in VARINT_KINDS:
            while buf[pos] & 0x80:
                pos += 1
            return pos + 1
        if t in LENGTH_PREFIXED:
            n, pos = read_long(buf, pos)
            return pos + n
        return skip(resolve(t, named), buf, pos, named)
    if isinstance(t, list):
        branch, pos = read_long(buf, pos)
        return skip(t[branch], buf, pos, named)
    k = t["type"]
    if k in ("record", "error"):
        for f in t["fields"]:
            pos = skip(f["type"], buf, pos, named)
        return pos
    if k == "enum":
        return skip("int", buf, pos, named)
    if k == "fixed":
        return pos + int(t["size"])
    if k in ("array", "map"):
        while True:
            count, pos = read_long(buf, pos)
            if count == 0:
                return pos
            if count < 0:  # a block with its size in bytes: skip it whole
                size, pos = read_long(buf, pos)
                pos += size
                continue
            for _ in range(count):
                if k == "map":
                    pos = skip("string", buf, pos, named)
                pos = skip(t["items"] if k == "array" else t["values"], buf, pos, named)
    return skip(k, buf, pos, named)
