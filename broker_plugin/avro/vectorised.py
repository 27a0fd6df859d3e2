"""Avro's binary encoding read at many positions of one buffer at once, with numpy.

The same encoding as `binary.py` (zig-zag varints, length-prefixed strings, little-endian
IEEE floats), for K positions in one call: the Python cost is per call, not per value. The
record walker of the LSST decoder (`broker_plugin.decoding.walker`) is built on these.

Invalid data (a varint longer than 10 bytes, a negative string length) pushes the position
past `BAD` (far beyond any payload), so callers that check "ends inside the payload" also
reject it. Gathers clip positions like ``take(mode="clip")``: reads from wrong positions never
raise, their results are simply rejected by the caller.
"""

from __future__ import annotations

import numpy as np

#: Added to a position on invalid data: beyond any payload, small enough never to overflow.
BAD = 1 << 40
_WINDOW = np.arange(10, dtype=np.int64)  # a varint has at most 10 bytes
_SHIFTS = (7 * _WINDOW).astype(np.uint64)


def unzigzag(u: np.ndarray) -> np.ndarray:
    """Signed int64 values of zig-zag mapped ones (uint64, or int64 below 2**63)."""
    if u.dtype == np.uint64:
        return (u >> np.uint64(1)).astype(np.int64) ^ -(u & np.uint64(1)).astype(np.int64)
    return (u >> 1) ^ -(u & 1)


def gather(arr: np.ndarray, at: np.ndarray, dtype: str, width: int) -> np.ndarray:
    """Values of `dtype` (`width` bytes) starting at byte positions `at` (any alignment).

    One fancy index into an overlapping view with a stride of one byte: a copy of `width`
    bytes per position, instead of a (K, width) index array for `take`. Positions are
    clipped like ``take(mode="clip")`` (wrong positions read garbage, never raise).
    """
    n = arr.size - width + 1
    if n <= 0:  # shorter than one value: pad (only tiny, corrupt inputs get here)
        arr = np.concatenate([arr, np.zeros(width, np.uint8)])
        n = arr.size - width + 1
    view = np.ndarray(shape=(n,), dtype=dtype, buffer=arr, offset=0, strides=(1,))
    values: np.ndarray = view[np.clip(at, 0, n - 1)]
    return values


def _window(arr: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bytes (K, 10), varint length per row; length BAD when no terminator in 10 bytes)."""
    win = gather(arr, pos, "V10", 10).view(np.uint8).reshape(-1, 10)
    term = win < 0x80
    n = term.argmax(axis=1).astype(np.int64) + 1
    n[~term.any(axis=1)] = BAD
    return win, n


def varint_end(arr: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Positions just after the varints starting at `pos`."""
    end = pos + 1
    multi = np.flatnonzero(arr.take(pos, mode="clip") >= 0x80)
    if multi.size:  # counts: mostly 2 bytes; ids: up to 10 (window)
        p = pos[multi]
        end[multi] = p + 2
        longer = np.flatnonzero(arr.take(p + 1, mode="clip") >= 0x80)
        if longer.size:
            q = p[longer]
            end[multi[longer]] = q + _window(arr, q)[1]
    return end


def varint_values(arr: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(zigzag-decoded values as int64, end positions) of the varints at `pos`."""
    win, n = _window(arr, pos)
    used = _WINDOW[None, :] < np.minimum(n, 10)[:, None]
    raw = np.where(used, win.astype(np.uint64) & np.uint64(0x7F), np.uint64(0))
    return unzigzag(np.bitwise_or.reduce(raw << _SHIFTS[None, :], axis=1)), pos + n


def string_end(arr: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Positions just after the length-prefixed strings (or bytes) at `pos`."""
    first = arr.take(pos, mode="clip").astype(np.int64)
    if (first < 0x80).all():
        length, body = unzigzag(first), pos + 1
    else:
        length, body = varint_values(arr, pos)
    length = np.where(length < 0, BAD, np.minimum(length, BAD))
    return body + length  # type: ignore[no-any-return]


def floats(arr: np.ndarray, at: np.ndarray, kind: str) -> np.ndarray:
    """float64 values of `kind` ('float' / 'double') stored at positions `at`."""
    size, dtype = (4, "<f4") if kind == "float" else (8, "<f8")
    with np.errstate(invalid="ignore"):  # bytes under a null branch may read as a NaN
        return gather(arr, at, dtype, size).astype(np.float64)


def strings(arr: np.ndarray, at: np.ndarray) -> np.ndarray | None:
    """UTF-8 strings whose length prefix is at `at` (None where a NUL byte makes 'S' lossy)."""
    length, body = varint_values(arr, at)
    width = int(length.max(initial=0))
    if width == 0:
        return np.full(at.size, "", dtype="<U1")
    inside = np.arange(width)[None, :] < length[:, None]
    raw = np.where(inside, arr.take(body[:, None] + np.arange(width), mode="clip"), 0)
    if (raw[inside] == 0).any():
        return None
    # few distinct values (bands): decode each once instead of np.char.decode per row
    values, inverse = np.unique(raw.astype(np.uint8).view(f"S{width}").reshape(-1),
                                return_inverse=True)
    decoded = np.array([v.decode("utf-8") for v in values.tolist()], dtype=str)
    return decoded[inverse.reshape(-1)]
