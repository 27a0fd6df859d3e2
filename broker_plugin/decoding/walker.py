"""Vectorised walk of flat Avro records: many records of one type at once, one field at a time.

A flat record type (fields are primitives or unions of primitives) is compiled once into a
short list of operations: skip N fixed bytes (consecutive fixed-size fields merged), skip a
varint, skip a length-prefixed string, read a union branch byte and skip its value, or note
where a wanted field starts. `RecordWalker.walk(arr, starts)` applies each operation to all K
start positions with numpy, so the Python cost is per *field*, not per record × field: the
layouts of the K records may all differ (null patterns, varint lengths, string lengths).

Invalid data (a union branch out of range, a varint longer than 10 bytes, a negative string
length) pushes the position past `BAD` (far beyond any payload), so callers that check
"ends inside the payload" also reject corrupt records. Gathers use ``mode="clip"`` so that
walks from wrong positions never raise; their results are simply rejected by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

_FIXED = {"float": 4, "double": 8, "boolean": 1, "null": 0}
_VARINT = ("int", "long", "enum")
_STRING = ("string", "bytes")
#: Added to a position on invalid data: beyond any payload, small enough never to overflow.
BAD = 1 << 40
_WINDOW = np.arange(10, dtype=np.int64)  # a varint has at most 10 bytes
_SHIFTS = (7 * _WINDOW).astype(np.uint64)
#: Records walked together: their bytes stay in cache across the walk's per-field passes.
CHUNK = 16384

FIXED, VARINT, STRING, UNION, MARK = range(5)


class NotWalkable(Exception):  # noqa: N818 — internal control flow, never escapes
    """A record type with nested complex fields (records, arrays, maps)."""


def kind_of(t: Any, named: Mapping[str, Any]) -> str:
    """Primitive kind of a non-union field type ('fixed:N' for Avro fixed)."""
    if isinstance(t, str):
        if t in _FIXED or t in _VARINT or t in _STRING:
            return t
        if t in named:
            return kind_of(named[t], named)
        raise NotWalkable(t)
    if isinstance(t, Mapping):
        kind = t.get("type")
        if kind == "enum":
            return "enum"
        if kind == "fixed":
            return f"fixed:{t['size']}"
        if isinstance(kind, str) and (kind in _FIXED or kind in _VARINT or kind in _STRING):
            return kind
    raise NotWalkable(str(t)[:60])


def _size(kind: str) -> int | None:
    """Bytes of a fixed-size kind, None for varints and strings."""
    if kind in _FIXED:
        return _FIXED[kind]
    if kind.startswith("fixed:"):
        return int(kind[6:])
    return None


class Field:
    """One field of a flat record: its name and kind, or its union branch kinds."""

    def __init__(self, name: str, t: Any, named: Mapping[str, Any]) -> None:
        self.name = name
        self.branches = tuple(kind_of(x, named) for x in t) if isinstance(t, list) else None
        self.kind = None if isinstance(t, list) else kind_of(t, named)

    def branch_code(self, kind: str) -> int:
        """The branch byte (zigzag of the index) of the first branch of `kind`."""
        assert self.branches is not None
        return 2 * self.branches.index(kind)


class RecordWalker:
    """Walks K records of one flat type from K start positions at once.

    Args:
        fields: the record's fields, in schema order.
        wanted: names whose start positions `walk` returns (value decoding is the caller's).
    """

    def __init__(self, fields: Iterable[Field], wanted: Iterable[str] = ()) -> None:
        self.fields = list(fields)
        wanted = set(wanted)
        ops: list[tuple] = []
        for f in self.fields:
            if f.name in wanted:
                ops.append((MARK, f.name))
            if f.branches is None:
                assert f.kind is not None
                size = _size(f.kind)
                if size is not None:
                    if ops and ops[-1][0] == FIXED:
                        ops[-1] = (FIXED, ops[-1][1] + size)
                    else:
                        ops.append((FIXED, size))
                else:
                    ops.append((VARINT if f.kind in _VARINT else STRING,))
                continue
            table = np.full(256, BAD, dtype=np.int64)
            var: list[tuple[int, int]] = []
            for i, kind in enumerate(f.branches):
                if 2 * i > 255:
                    raise NotWalkable(f"union {f.name} has too many branches")
                size = _size(kind)
                table[2 * i] = 1 + (size if size is not None else 0)
                if size is None:
                    var.append((2 * i, VARINT if kind in _VARINT else STRING))
            ops.append((UNION, table, tuple(var)))
        self.ops = [op for op in ops if not (op[0] == FIXED and op[1] == 0)]

    def span(self) -> tuple[int, int]:
        """(fewest, most) bytes a record can take; strings and varints counted generously."""
        lo = hi = 0
        for f in self.fields:
            kinds = f.branches or (f.kind,)
            sizes = [1 if f.branches else 0] * len(kinds)
            low = min(sz + (_size(str(k)) or 1) for sz, k in zip(sizes, kinds, strict=True))
            high = max(sz + (_size(str(k)) or (10 if k in _VARINT else 10 + 64))
                       for sz, k in zip(sizes, kinds, strict=True))
            lo, hi = lo + low, hi + high
        return lo, hi

    def walk(
        self, arr: np.ndarray, starts: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(end positions, {wanted field: start positions}) of records at `starts` (int64).

        Large batches go in chunks of `CHUNK` records: each per-field pass then touches
        bytes that are still in cache (about 1.4x faster on 1000-point alerts).
        """
        if starts.size <= CHUNK:
            return self._walk(arr, starts)
        parts = [self._walk(arr, starts[i:i + CHUNK]) for i in range(0, starts.size, CHUNK)]
        ends = np.concatenate([p[0] for p in parts])
        marks = {name: np.concatenate([p[1][name] for p in parts]) for name in parts[0][1]}
        return ends, marks

    def _walk(
        self, arr: np.ndarray, starts: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        pos = np.array(starts, dtype=np.int64, copy=True)
        marks: dict[str, np.ndarray] = {}
        for op in self.ops:
            code = op[0]
            if code == UNION:
                branch = arr.take(pos, mode="clip")
                pos += op[1][branch]  # fancy indexing: take() with uint8 indices is slow
                for value, kind in op[2]:
                    sel = np.flatnonzero(branch == value)
                    if sel.size:
                        skip = varint_end if kind == VARINT else string_end
                        pos[sel] = skip(arr, pos[sel])
            elif code == FIXED:
                pos += op[1]
            elif code == MARK:
                marks[op[1]] = pos.copy()
            elif code == VARINT:
                pos = varint_end(arr, pos)
            else:
                pos = string_end(arr, pos)
        return pos, marks


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
    return view[np.clip(at, 0, n - 1)]


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
    u = np.bitwise_or.reduce(raw << _SHIFTS[None, :], axis=1)
    value = (u >> np.uint64(1)).astype(np.int64) ^ -(u & np.uint64(1)).astype(np.int64)
    return value, pos + n


def string_end(arr: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Positions just after the length-prefixed strings (or bytes) at `pos`."""
    first = arr.take(pos, mode="clip").astype(np.int64)
    if (first < 0x80).all():
        length, body = (first >> 1) ^ -(first & 1), pos + 1
    else:
        length, body = varint_values(arr, pos)
    length = np.where(length < 0, BAD, np.minimum(length, BAD))
    return body + length


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
