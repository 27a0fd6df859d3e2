"""The fast LSST decoder: walks the Avro binary and reads only what the light curve needs.

fastavro builds a Python dict for each of the ~100 fields of each of hundreds of diaSources.
Here, for each flat record type (diaSource, diaForcedSource) a *layout template* is learnt by
walking one record in Python: its length, the offsets of every byte that decides a field's
length (union branches, varint continuation bits, string lengths) with their expected values,
and the offsets of the wanted fields. The records that follow in the same array usually share
the layout (same null pattern, same varint sizes), so they are checked and read all at once
with strided numpy views over the payload: records k = 0..K−1 start at s0 + k·L. The first
record that fails the check is walked again (a new template, also tried on later alerts), and
so on: the result is exactly what a full parse gives, because every length-deciding byte of an
accepted record has been checked. Values are bit-identical to fastavro's (same IEEE bytes).

Only the head of the alert is read (diaSource, prvDiaSources, prvDiaForcedSources, and
diaObject when diaSource.diaObjectId is null); bytes after it (cutouts, ssSource, ...) are not
parsed, so damage confined to them is not reported. Record types with nested complex fields
are not templated: such schemas fall back to fastavro (`LsstProjection.supported`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import fastavro
import numpy as np

from broker_plugin.decoding import lsst

_FIXED = {"float": 4, "double": 8, "boolean": 1, "null": 0}
_VARINT = ("int", "long", "enum")
_STRING = ("string", "bytes")
WANTED = ("diaSourceId", "diaObjectId", "midpointMjdTai", "band", "scienceFlux",
          "scienceFluxErr", "timeWithdrawnMjdTai")
_MAX_TEMPLATES = 8


class NotTemplatable(Exception):  # noqa: N818 — internal control flow, never escapes
    """A record type with nested complex fields."""


def _kind(t: Any, named: Mapping[str, Any]) -> str:
    """Primitive kind of a non-union field type ('fixed:N' for fixed)."""
    if isinstance(t, str):
        if t in _FIXED or t in _VARINT or t in _STRING:
            return t
        if t in named:
            return _kind(named[t], named)
        raise NotTemplatable(t)
    if isinstance(t, Mapping):
        kind = t.get("type")
        if kind == "enum":
            return "enum"
        if kind == "fixed":
            return f"fixed:{t['size']}"
        if isinstance(kind, str) and (kind in _FIXED or kind in _VARINT or kind in _STRING):
            return kind
    raise NotTemplatable(str(t)[:60])


class FlatRecord:
    """A record type whose fields are primitives or unions of primitives."""

    def __init__(self, record: Mapping[str, Any], named: Mapping[str, Any]) -> None:
        self.fields: list[tuple[str, tuple[str, ...] | None, str | None]] = []
        for f in record["fields"]:
            t = f["type"]
            if isinstance(t, list):
                self.fields.append((f["name"], tuple(_kind(x, named) for x in t), None))
            else:
                self.fields.append((f["name"], None, _kind(t, named)))
        self.names = {f[0] for f in self.fields}
        self.templates: list[Template] = []

    def learn(self, buf: bytes, pos: int) -> Template:
        """Walk one record at `pos` in Python and return its layout template."""
        start = pos
        offs: list[int] = []
        exps: list[int] = []
        masks: list[int] = []
        values: dict[str, tuple[str, int, int] | None] = {}
        for name, branches, kind in self.fields:
            if branches is not None:
                b = buf[pos]
                if b & 0x81:
                    raise ValueError(f"field {name}: bad union branch byte {b:#04x}")
                if (b >> 1) >= len(branches):
                    raise ValueError(f"field {name}: union branch {b >> 1} out of range")
                offs.append(pos - start)
                masks.append(0xFF)
                exps.append(b)
                pos += 1
                kind = branches[b >> 1]
            assert kind is not None
            p0 = pos
            if kind in _FIXED:
                pos += _FIXED[kind]
            elif kind.startswith("fixed:"):
                pos += int(kind[6:])
            elif kind in _VARINT:
                while buf[pos] & 0x80:
                    offs.append(pos - start)
                    masks.append(0x80)
                    exps.append(0x80)
                    pos += 1
                offs.append(pos - start)
                masks.append(0x80)
                exps.append(0)
                pos += 1
            else:  # string / bytes: the whole length varint must match
                n, shift = 0, 0
                while True:
                    b = buf[pos]
                    offs.append(pos - start)
                    masks.append(0xFF)
                    exps.append(b)
                    pos += 1
                    n |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                n = (n >> 1) ^ -(n & 1)
                if n < 0:
                    raise ValueError(f"field {name}: negative length {n}")
                p0 = pos
                pos += n
            if name in WANTED:
                values[name] = None if kind == "null" else (kind, p0 - start, pos - p0)
        if pos > len(buf):
            raise EOFError("record runs past the end of the payload")
        template = Template(pos - start, offs, masks, exps, values)
        self.templates.insert(0, template)
        del self.templates[_MAX_TEMPLATES:]
        return template

    def template_at(self, buf: bytes, arr: np.ndarray, pos: int) -> Template:
        """A known template that fits the record at `pos`, else a newly learnt one."""
        for t in self.templates:
            if pos + t.length <= arr.size and t.fits(arr, pos):
                return t
        return self.learn(buf, pos)


class Template:
    """Layout of one record: length, length-deciding bytes, wanted-field locations."""

    def __init__(
        self, length: int, offs: list[int], masks: list[int], exps: list[int],
        values: dict[str, tuple[str, int, int] | None],
    ) -> None:
        self.length = length
        self.offs = np.asarray(offs, dtype=np.intp)
        self.masks = np.asarray(masks, dtype=np.uint8)
        self.exps = np.asarray(exps, dtype=np.uint8)
        self.values = values

    def fits(self, arr: np.ndarray, pos: int) -> bool:
        """Whether the record at `pos` has this layout."""
        return bool(np.array_equal(arr[pos + self.offs] & self.masks, self.exps))

    def run(self, arr: np.ndarray, pos: int, limit: int) -> int:
        """How many consecutive records from `pos` (the first known to fit) share the layout."""
        k = min(limit, (arr.size - pos) // self.length)
        if k <= 1:
            return max(k, 0)
        rows = np.ndarray((k - 1, self.length), np.uint8, arr.data, pos + self.length,
                          (self.length, 1))
        ok = ((rows[:, self.offs] & self.masks) == self.exps).all(axis=1)
        bad = np.flatnonzero(~ok)
        return 1 + (int(bad[0]) if bad.size else k - 1)

    def column(self, arr: np.ndarray, pos: int, k: int, name: str) -> np.ndarray:
        """Field `name` of k records from `pos` as float64 (NaN where null or absent)."""
        where = self.values.get(name)
        if where is None:
            return np.full(k, np.nan)
        kind, off, _ = where
        dtype = "<f8" if kind == "double" else "<f4"
        if kind not in ("double", "float"):
            raise ValueError(f"field {name} is {kind}, expected float or double")
        col = np.ndarray((k,), dtype, arr.data, pos + off, (self.length,))
        return col.astype(np.float64)

    def strings(self, arr: np.ndarray, pos: int, k: int, name: str) -> np.ndarray:
        """String field `name` of k records ('' where null or absent)."""
        where = self.values.get(name)
        if where is None or where[2] == 0:
            return np.full(k, "", dtype="<U1")
        _, off, n = where
        col = np.ndarray((k,), f"S{n}", arr.data, pos + off, (self.length,))
        return np.char.decode(col, "utf-8")

    def long(self, buf: bytes, pos: int, name: str) -> int | None:
        """Integer field `name` of the record at `pos` (None where null or absent)."""
        where = self.values.get(name)
        if where is None:
            return None
        _, off, n = where
        return _zigzag(buf, pos + off, n)


def _zigzag(buf: bytes, pos: int, n: int) -> int:
    value = 0
    for i in range(n):
        value |= (buf[pos + i] & 0x7F) << (7 * i)
    return (value >> 1) ^ -(value & 1)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), pos


class LsstProjection:
    """Decode LSST alert bodies of one schema into (alert id, object id, mjd, points)."""

    def __init__(self, schema: Mapping[str, Any], include_forced: bool = True) -> None:
        self.schema = schema
        self.layout = lsst.LsstLayout.of(schema)
        self.include_forced = include_forced and self.layout.has_forced_science_flux
        self.named = _named_types(schema)
        self.fields = schema["fields"]
        try:
            self.source = FlatRecord(_record(schema, "diaSource", self.named), self.named)
            forced = _record(schema, "prvDiaForcedSources", self.named)
            self.forced = FlatRecord(forced, self.named) if forced else None
            obj = _record(schema, "diaObject", self.named)
            self.object = FlatRecord(obj, self.named) if obj else None
            self.supported = True
        except NotTemplatable:
            self.supported = False
        self._stop = max(i for i, f in enumerate(self.fields)
                         if f["name"] in ("diaSource", "prvDiaSources", "prvDiaForcedSources"))

    def decode(self, body: bytes | memoryview) -> tuple:
        """Photometry of one alert body (same result as `lsst.points_from_dict`)."""
        if not self.supported:
            record = fastavro.schemaless_reader(io.BytesIO(body), self.schema, None)
            return lsst.points_from_dict(record, self.layout, self.include_forced)
        buf = bytes(body)
        arr = np.frombuffer(buf, dtype=np.uint8)
        cols: list[tuple[np.ndarray, ...]] = []
        trigger: tuple[Template, int] | None = None
        pos = 0
        object_id: int | None = None
        for i, f in enumerate(self.fields):
            name = f["name"]
            if i > self._stop and object_id is not None:
                break  # everything the light curve needs has been read
            if name == "diaSource":
                t = self.source.template_at(buf, arr, pos)
                cols.append(self._columns(t, arr, pos, 1, forced=False))
                trigger = (t, pos)
                object_id = t.long(buf, pos, "diaObjectId")
                pos += t.length
            elif name == "prvDiaSources":
                pos = self._array(buf, arr, pos, self.source, cols, forced=False)
            elif name == "prvDiaForcedSources" and self.include_forced and self.forced:
                pos = self._array(buf, arr, pos, self.forced, cols, forced=True)
            elif name == "diaObject" and object_id is None and self.object is not None:
                branch, pos = _varint(buf, pos)
                if branch == 1:
                    t = self.object.template_at(buf, arr, pos)
                    object_id = t.long(buf, pos, "diaObjectId")
                    pos += t.length
            else:
                pos = _skip(f["type"], buf, pos, self.named)
            if pos > len(buf):
                raise EOFError("alert runs past the end of the payload")
        assert trigger is not None
        t, tpos = trigger
        merged = [np.concatenate(c) for c in zip(*cols, strict=True)]
        band, time, flux, flux_err, withdrawn, forced = merged
        points = lsst.clean_points(band, time, flux, flux_err, withdrawn, forced)
        return (
            str(t.long(buf, tpos, "diaSourceId")),
            None if object_id is None else str(object_id),
            float(t.column(arr, tpos, 1, "midpointMjdTai")[0]),
            points,
        )

    def _columns(self, t: Template, arr: np.ndarray, pos: int, k: int, forced: bool) -> tuple:
        return (
            t.strings(arr, pos, k, "band"),
            t.column(arr, pos, k, "midpointMjdTai"),
            t.column(arr, pos, k, "scienceFlux"),
            t.column(arr, pos, k, "scienceFluxErr"),
            t.column(arr, pos, k, "timeWithdrawnMjdTai"),
            np.full(k, forced),
        )

    def _array(
        self, buf: bytes, arr: np.ndarray, pos: int, rec: FlatRecord, cols: list, forced: bool
    ) -> int:
        """Read a ["null", array<rec>] field at `pos`; returns the position after it."""
        branch, pos = _varint(buf, pos)
        if branch == 0:
            return pos
        if branch != 1:
            raise ValueError(f"bad union branch {branch} for an array field")
        while True:
            count, pos = _varint(buf, pos)
            if count == 0:
                return pos
            if count < 0:
                count = -count
                _, pos = _varint(buf, pos)  # block size in bytes
            done = 0
            while done < count:
                t = rec.template_at(buf, arr, pos)
                k = t.run(arr, pos, count - done)
                cols.append(self._columns(t, arr, pos, k, forced))
                pos += k * t.length
                done += k


def _named_types(schema: Mapping[str, Any]) -> dict[str, Any]:
    named: dict[str, Any] = {}

    def walk(t: Any) -> None:
        if isinstance(t, list):
            for x in t:
                walk(x)
        elif isinstance(t, Mapping):
            kind = t.get("type")
            if kind in ("record", "enum", "fixed", "error"):
                named[t["name"]] = t
                for f in t.get("fields", []):
                    walk(f["type"])
            elif kind == "array":
                walk(t["items"])
            elif kind == "map":
                walk(t["values"])

    walk(schema)
    return named


def _record(schema: Mapping[str, Any], field_name: str, named: Mapping[str, Any]) -> Any:
    for f in schema["fields"]:
        if f["name"] == field_name:
            t = f["type"]
            while True:
                if isinstance(t, list):
                    t = next(x for x in t if x != "null")
                elif isinstance(t, str):
                    t = named[t]
                elif t.get("type") == "array":
                    t = t["items"]
                else:
                    return t
    return None


def _skip(t: Any, buf: bytes, pos: int, named: Mapping[str, Any]) -> int:
    """Position after a value of any Avro type at `pos` (generic, for the few head fields)."""
    if isinstance(t, str):
        if t in _FIXED:
            return pos + _FIXED[t]
        if t in _VARINT:
            while buf[pos] & 0x80:
                pos += 1
            return pos + 1
        if t in _STRING:
            n, pos = _varint(buf, pos)
            return pos + n
        return _skip(named[t], buf, pos, named)
    if isinstance(t, list):
        branch, pos = _varint(buf, pos)
        return _skip(t[branch], buf, pos, named)
    kind = t["type"]
    if kind in ("record", "error"):
        for f in t["fields"]:
            pos = _skip(f["type"], buf, pos, named)
        return pos
    if kind == "enum":
        return _skip("int", buf, pos, named)
    if kind == "fixed":
        return pos + int(t["size"])
    if kind in ("array", "map"):
        while True:
            count, pos = _varint(buf, pos)
            if count == 0:
                return pos
            if count < 0:
                size, pos = _varint(buf, pos)
                pos += size
                continue
            for _ in range(count):
                if kind == "map":
                    pos = _skip("string", buf, pos, named)
                pos = _skip(t["items"] if kind == "array" else t["values"], buf, pos, named)
    return _skip(kind, buf, pos, named)
