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
The vectorised reads themselves (varints, strings, floats) are `broker_plugin.avro.vectorised`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from broker_plugin.avro.binary import branch_byte
from broker_plugin.avro.names import VARINT_KINDS, fixed_size, value_kind
from broker_plugin.avro.vectorised import BAD, string_end, varint_end

#: Records walked together: their bytes stay in cache across the walk's per-field passes.
CHUNK = 16384

FIXED, VARINT, STRING, UNION, MARK = range(5)


class NotWalkable(Exception):  # noqa: N818 — internal control flow, never escapes
    """A record type with nested complex fields (records, arrays, maps)."""


def kind_of(t: Any, named: Mapping[str, Any]) -> str:
    """Primitive kind of a non-union field type ('fixed:N' for Avro fixed)."""
    kind = value_kind(t, named)
    if kind is None:
        raise NotWalkable(str(t)[:60])
    return kind


class Field:
    """One field of a flat record: its name and kind, or its union branch kinds."""

    def __init__(self, name: str, t: Any, named: Mapping[str, Any]) -> None:
        self.name = name
        self.branches = tuple(kind_of(x, named) for x in t) if isinstance(t, list) else None
        self.kind = None if isinstance(t, list) else kind_of(t, named)

    def branch_code(self, kind: str) -> int:
        """The branch byte (zigzag of the index) of the first branch of `kind`."""
        assert self.branches is not None
        return branch_byte(self.branches.index(kind))


class RecordWalker:
    """Walks K records of one flat type from K start positions at once.

    Args:
        fields: the record's fields, in schema order.
        wanted: names whose start positions `walk` returns (value decoding is the caller's).
    """

    def __init__(self, fields: Iterable[Field], wanted: Iterable[str] = ()) -> None:
        self.fields = list(fields)
        wanted = set(wanted)
        ops: list[tuple[Any, ...]] = []
        for f in self.fields:
            if f.name in wanted:
                ops.append((MARK, f.name))
            if f.branches is None:
                assert f.kind is not None
                size = fixed_size(f.kind)
                if size is not None:
                    if ops and ops[-1][0] == FIXED:
                        ops[-1] = (FIXED, ops[-1][1] + size)
                    else:
                        ops.append((FIXED, size))
                else:
                    ops.append((VARINT if f.kind in VARINT_KINDS else STRING,))
                continue
            table = np.full(256, BAD, dtype=np.int64)
            var: list[tuple[int, int]] = []
            for i, kind in enumerate(f.branches):
                if i >= 64:  # the branch byte would take two bytes
                    raise NotWalkable(f"union {f.name} has too many branches")
                size = fixed_size(kind)
                table[branch_byte(i)] = 1 + (size if size is not None else 0)
                if size is None:
                    var.append((branch_byte(i), VARINT if kind in VARINT_KINDS else STRING))
            ops.append((UNION, table, tuple(var)))
        self.ops = [op for op in ops if not (op[0] == FIXED and op[1] == 0)]

    def span(self) -> tuple[int, int]:
        """(fewest, most) bytes a record can take; strings and varints counted generously."""
        lo = hi = 0
        for f in self.fields:
            kinds = f.branches or (f.kind,)
            sizes = [1 if f.branches else 0] * len(kinds)
            low = min(sz + (fixed_size(str(k)) or 1) for sz, k in zip(sizes, kinds, strict=True))
            high = max(sz + (fixed_size(str(k)) or (10 if k in VARINT_KINDS else 10 + 64))
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
