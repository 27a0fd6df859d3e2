"""The fast LSST decoder: reads only what the light curve needs, exactly as fastavro would.

fastavro builds a Python dict for each of the ~100 fields of each of hundreds of diaSources.
Here the records of an alert are walked *all at once*, one field at a time, with numpy
(`walker.RecordWalker`). That needs every record's start before walking, and in Avro a record
starts where the previous one ends. The trick: every diaSource and diaForcedSource of an alert
carries the same `diaObjectId`, so its encoded bytes (the *marker*, 9–11 bytes for real ids)
occur once per record. `bytes.find` locates all marker occurrences (candidates); the walker
goes from each candidate through the rest of the record (the suffix) and then through the
next record's fields before its diaObjectId (the prefix). The chain is then checked from the
known start of the first record: each record's walk must land exactly on the next candidate.
Every accepted position is thus the one a full parse reaches, whatever the null patterns,
varint lengths or string lengths are; the values read there are fastavro's (same IEEE bytes).

Alerts where the chain does not hold (diaSource without diaObjectId, records of another
object, a marker too short to be selective, corrupt data) are decoded with fastavro, as are
schemas whose records nest complex types (`LsstProjection.supported`). Only the head of the
alert is read (diaSource, prvDiaSources, prvDiaForcedSources); cutouts and later fields are not
parsed, so damage confined to them is not reported.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Mapping
from typing import Any, cast

import fastavro
import numpy as np

from broker_plugin.avro.binary import encode_long, read_long, skip
from broker_plugin.avro.fields import branch_kinds, record_of
from broker_plugin.avro.names import FIXED_SIZES, LENGTH_PREFIXED, VARINT_KINDS, named_types
from broker_plugin.avro.vectorised import floats, strings, varint_values
from broker_plugin.decoding import lsst
from broker_plugin.decoding.walker import Field, NotWalkable, RecordWalker

#: Fields of each record read into columns (diaSourceId is read for the trigger only).
COLUMNS = ("midpointMjdTai", "band", "scienceFlux", "scienceFluxErr", "timeWithdrawnMjdTai")
#: The field shared by all records of an alert: its bytes locate the records.
MARKER_FIELD = "diaObjectId"
#: Shorter markers (small ids) match too often to be worth it: such alerts use fastavro.
MIN_MARKER = 4


class Fallback(Exception):  # noqa: N818 — internal control flow, never escapes
    """This alert is not read by the chain (see module doc); fastavro reads it."""


class ChainRecord:
    """A record type read as a chain: prefix (fields before the marker), marker, suffix."""

    def __init__(self, record: Mapping[str, Any], named: Mapping[str, Any]) -> None:
        fields = [Field(f["name"], f["type"], named) for f in record["fields"]]
        names = [f.name for f in fields]
        if MARKER_FIELD not in names:
            raise NotWalkable(f"{record.get('name')} has no {MARKER_FIELD}")
        i = names.index(MARKER_FIELD)
        self.prefix = fields[:i]
        self.marker = fields[i]
        if (self.marker.kind or "") not in ("long", "int") and (
            self.marker.branches is None or "long" not in self.marker.branches
        ):
            raise NotWalkable(f"{MARKER_FIELD} is not a long")
        self.by_name = {f.name: f for f in fields}
        self.suffix = RecordWalker(fields[i:], [n for n in COLUMNS if n in names[i:]])
        self.prefix_walker = RecordWalker(self.prefix)
        whole = RecordWalker(fields).span()
        self.span = (whole[0], whole[1] + 3 * 10)  # + an array block header
        if any(n in names[:i] for n in COLUMNS):
            raise NotWalkable("a light-curve field lies before diaObjectId")

    def marker_bytes(self, object_id: int) -> bytes:
        """How this record type encodes `object_id` in its marker field."""
        body = encode_long(object_id)
        if self.marker.branches is None:
            return body
        return encode_long(self.marker.branches.index("long")) + body

    def walk_prefix(self, buf: bytes, pos: int) -> tuple[int, int | None]:
        """(marker position, diaSourceId or None) walking the prefix of one record in Python."""
        source_id = None
        for f in self.prefix:
            kind = f.kind
            if f.branches is not None:
                branch, pos = read_long(buf, pos)
                if not 0 <= branch < len(f.branches):
                    raise Fallback(f"union branch {branch} of {f.name}")
                kind = f.branches[branch]
            assert kind is not None
            if kind in VARINT_KINDS:
                value, pos = read_long(buf, pos)
                if f.name == "diaSourceId":
                    source_id = value
            elif kind in LENGTH_PREFIXED:
                n, pos = read_long(buf, pos)
                pos += n
            elif kind.startswith("fixed:"):
                pos += int(kind[6:])
            else:
                pos += FIXED_SIZES[kind]
        return pos, source_id

    def read_marker(self, buf: bytes, pos: int) -> int | None:
        """The marker field's value at `pos` (None when null)."""
        if self.marker.branches is not None:
            branch, pos = read_long(buf, pos)
            if self.marker.branches[branch] == "null":
                return None
        return read_long(buf, pos)[0]

    def column(self, arr: np.ndarray, at: np.ndarray | None, name: str) -> np.ndarray:
        """Field `name` of records whose field starts at `at` (float64, NaN = null/absent)."""
        f = self.by_name.get(name)
        if f is None or at is None:
            return np.full(0 if at is None else at.size, np.nan)
        if f.branches is None:
            return floats(arr, at, str(f.kind))
        kind = next((k for k in f.branches if k in ("float", "double")), None)
        if kind is None:
            raise NotWalkable(f"{name} is not a float or double")
        value = floats(arr, at + 1, kind)
        value[arr.take(at, mode="clip") != f.branch_code(kind)] = np.nan
        return value

    def bands(self, arr: np.ndarray, at: np.ndarray) -> np.ndarray:
        """The band strings ('' where null)."""
        f = self.by_name["band"]
        if f.branches is None:
            found = strings(arr, at)
            if found is None:
                raise Fallback("NUL byte in a band")
            return found
        sel = np.flatnonzero(arr.take(at, mode="clip") == f.branch_code("string"))
        if sel.size == 0:
            return np.zeros(at.size, dtype="<U1")  # all null: '' everywhere
        found = strings(arr, at[sel] + 1)
        if found is None:
            raise Fallback("NUL byte in a band")
        if sel.size == at.size:
            return found
        out = np.zeros(at.size, dtype=found.dtype)  # zeros of a str dtype read as ''
        out[sel] = found
        return out


class _Alert:
    """Where one alert of a batch stands while its records are located and checked."""

    __slots__ = ("base", "end", "error", "forced", "object_id", "pos", "source", "source_id")

    def __init__(self, base: int, end: int) -> None:
        self.base, self.end, self.pos = base, end, base
        self.source_id: int | None = None
        self.object_id: int | None = None
        self.error: str | None = None
        self.source = _Records()
        self.forced = _Records()


class _Records:
    """Candidates of one record type for one alert: their slice of the batch-wide arrays."""

    __slots__ = ("first", "starts", "used")

    def __init__(self) -> None:
        self.starts = np.empty(0, np.int64)
        self.first = 0  # index of this alert's first candidate in the batch arrays
        self.used = 0  # candidates confirmed by the chain check


class _Walked:
    """A batch-wide walk of one record type: candidates, record ends, next prefixes, marks."""

    def __init__(self, rec: ChainRecord, arr: np.ndarray, parts: list[_Records]) -> None:
        sizes = [p.starts.size for p in parts]
        firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        for p, first in zip(parts, firsts.tolist(), strict=True):
            p.first = first
        self.starts = np.concatenate([p.starts for p in parts]) if parts else np.empty(0, np.int64)
        self.ends, self.marks = rec.suffix.walk(arr, self.starts)
        self.next, _ = rec.prefix_walker.walk(arr, self.ends)


class LsstProjection:
    """Decode LSST alert bodies of one schema into (alert id, object id, mjd, points)."""

    def __init__(self, schema: Mapping[str, Any], include_forced: bool = True) -> None:
        self.schema = schema
        self.layout = lsst.LsstLayout.of(schema)
        self.include_forced = include_forced and self.layout.has_forced_science_flux
        self.named = named_types(schema)
        self.fields = schema["fields"]
        names = [f["name"] for f in self.fields]
        self.forced: ChainRecord | None = None
        try:
            self.source = ChainRecord(record_of(schema, "diaSource", self.named), self.named)
            self.arrays = {n: _array_codes(self.fields[names.index(n)]["type"])
                           for n in ("prvDiaSources", "prvDiaForcedSources") if n in names}
            if self.include_forced:
                self.forced = ChainRecord(record_of(schema, "prvDiaForcedSources", self.named),
                                          self.named)
            self.supported = isinstance(self.fields[names.index("diaSource")]["type"], Mapping)
            i_source = names.index("diaSource")
            i_forced = names.index("prvDiaForcedSources") if self.forced else len(names)
            i_stop = i_forced if self.forced else names.index("prvDiaSources")
        except (NotWalkable, ValueError, KeyError):
            self.supported = False
            i_source = i_forced = i_stop = 0
        self._head = self.fields[:i_source]  # skipped before the trigger diaSource
        self._locator = self._head_walker() if self.supported else None
        self._middle = self.fields[i_source + 1: min(i_forced, i_stop + 1)]  # prvDiaSources..
        self.fallbacks = 0  # alerts read with fastavro (for tests and the benchmark)

    def _head_walker(self) -> RecordWalker | None:
        """A walker from an alert's start to its trigger's diaObjectId (None: walk in Python).

        The head fields and the trigger's fields before diaObjectId are flat, so every alert
        of a batch is located at once; `source.diaSourceId` marks the trigger's id.
        """
        try:
            fields = [Field(f"head.{f['name']}", f["type"], self.named) for f in self._head]
        except NotWalkable:
            return None
        for f in self.source.prefix:
            if f.name == "diaSourceId" and f.branches is not None:
                return None  # a nullable id: the Python walk reads it
            renamed = copy.copy(f)
            renamed.name = f"source.{f.name}"
            fields.append(renamed)
        return RecordWalker(fields, ["source.diaSourceId"])

    def decode(self, body: bytes | memoryview) -> tuple[Any, ...]:
        """Photometry of one alert body (same result as `lsst.points_from_dict`)."""
        result = self.decode_many([body])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def decode_many(self, bodies: list[bytes | memoryview]) -> list[tuple[Any, ...] | Exception]:
        """Photometry of each body, or the exception fastavro raised on it (batch at once)."""
        out: list[tuple[Any, ...] | Exception | None] = [None] * len(bodies)
        if self.supported and bodies:
            buf = b"".join(bodies)
            arr = np.frombuffer(buf, dtype=np.uint8)
            alerts, base = [], 0
            for body in bodies:
                alerts.append(_Alert(base, base + len(body)))
                base += len(body)
            if self._locator is None:
                self._each(alerts, self._locate_sources, buf)
            else:
                self._locate_all(alerts, arr, buf)
            src = _Walked(self.source, arr, [a.source for a in alerts])
            self._each(alerts, lambda a, b: self._check_sources(a, b, src), buf)
            fwalk = None
            if self.forced is not None:
                self._each(alerts, self._locate_forced, buf)
                fwalk = _Walked(self.forced, arr, [a.forced for a in alerts])
                self._each(alerts, lambda a, b: self._check_forced(a, b, fwalk), buf)
            for i, result in enumerate(self._points(arr, alerts, src, fwalk)):
                out[i] = result
        for i, body in enumerate(bodies):
            if out[i] is None:
                self.fallbacks += 1
                try:
                    record = fastavro.schemaless_reader(io.BytesIO(body), _schema(self.schema),
                                                        None)
                    out[i] = lsst.points_from_dict(cast(Mapping[str, Any], record), self.layout,
                                                   self.include_forced)
                except Exception as exc:  # reported by the caller as an Avro error
                    out[i] = exc
        return out  # type: ignore[return-value]

    @staticmethod
    def _each(alerts: list[_Alert], step: Callable[[_Alert, bytes], None], buf: bytes) -> None:
        """Run `step` on every alert still on the fast path; a failure sends it to fastavro."""
        for a in alerts:
            if a.error is None:
                try:
                    step(a, buf)
                except (Fallback, IndexError) as exc:
                    a.error = str(exc) or type(exc).__name__
                    a.source.used = a.forced.used = 0

    def _locate_sources(self, a: _Alert, buf: bytes) -> None:
        pos = a.base
        for f in self._head:
            pos = skip(f["type"], buf, pos, self.named)
        pos, a.source_id = self.source.walk_prefix(buf, pos)
        a.object_id = self.source.read_marker(buf, pos)
        if a.object_id is None:
            raise Fallback("diaSource without diaObjectId")
        marker = self.source.marker_bytes(a.object_id)
        a.source.starts = _find_chain(buf, marker, pos, self.source.span, a.end)

    def _locate_all(self, alerts: list[_Alert], arr: np.ndarray, buf: bytes) -> None:
        """`_locate_sources` for every alert at once (head and trigger prefix walked by numpy).

        Anything odd (a walk past the alert's end, a union branch that is neither null nor
        long) sends that alert to fastavro, as the Python walk's errors would.
        """
        assert self._locator is not None
        base = np.array([a.base for a in alerts], dtype=np.int64)
        end = np.array([a.end for a in alerts], dtype=np.int64)
        pos, marks = self._locator.walk(arr, base)
        if "source.diaSourceId" in marks:
            source_id, _ = varint_values(arr, marks["source.diaSourceId"])
            source_ids: list[int | None] = source_id.tolist()
        else:
            source_ids = [None] * len(alerts)
        marker = self.source.marker
        at = pos
        null = np.zeros(len(alerts), dtype=bool)
        bad = pos >= end
        if marker.branches is not None:
            branch = arr.take(pos, mode="clip")
            null = ("null" in marker.branches) & (
                branch == (marker.branch_code("null") if "null" in marker.branches else -1))
            bad |= ~null & (branch != marker.branch_code("long"))
            at = pos + 1
        object_id, value_end = varint_values(arr, at)
        bad |= ~null & (value_end > end)
        rows = zip(alerts, pos.tolist(), source_ids, object_id.tolist(), null.tolist(),
                   bad.tolist(), strict=True)
        for a, p, sid, oid, is_null, is_bad in rows:
            if is_bad:
                a.error = "head runs past the end of the payload"
            elif is_null:
                a.error = "diaSource without diaObjectId"
            else:
                a.source_id, a.object_id = sid, oid
                try:
                    a.source.starts = _find_chain(
                        buf, self.source.marker_bytes(oid), p, self.source.span, a.end)
                except Fallback as exc:
                    a.error = str(exc)

    def _check_sources(self, a: _Alert, buf: bytes, walked: _Walked) -> None:
        a.source.used = 1
        a.pos = int(walked.ends[a.source.first])
        for f in self._middle:
            if f["name"] == "prvDiaSources":
                a.pos = self._chain(buf, a, f["name"], a.source, walked)
            else:
                a.pos = skip(f["type"], buf, a.pos, self.named)
            if a.pos > a.end:
                raise Fallback("alert runs past the end of the payload")

    def _locate_forced(self, a: _Alert, buf: bytes) -> None:
        assert self.forced is not None and a.object_id is not None
        marker = self.forced.marker_bytes(a.object_id)
        a.forced.starts = _find_chain(buf, marker, a.pos, self.forced.span, a.end)

    def _check_forced(self, a: _Alert, buf: bytes, walked: _Walked) -> None:
        a.pos = self._chain(buf, a, "prvDiaForcedSources", a.forced, walked)

    def _chain(self, buf: bytes, a: _Alert, name: str, recs: _Records, walked: _Walked) -> int:
        """Check the array field `name` at `a.pos` against this alert's candidates.

        Each block's first record must start where the block header ends and put its marker
        on the next candidate; each further record must start where the previous one ended
        (`walked.next`: the prefix walked from each candidate's record end). Returns the
        position after the array; `recs.used` counts the confirmed records.
        """
        null_code, array_code = self.arrays[name]
        branch, pos = read_long(buf, a.pos)
        if branch == null_code:
            return pos
        if branch != array_code:
            raise Fallback(f"union branch {branch} of {name}")
        rec = self.source if recs is a.source else self.forced
        assert rec is not None
        while True:
            count, pos = read_long(buf, pos)
            if count == 0:
                return pos
            if count < 0:
                count = -count
                _, pos = read_long(buf, pos)  # block size in bytes
            k = recs.used
            g = recs.first + k  # batch-wide index of this block's first candidate
            first, _ = rec.walk_prefix(buf, pos)
            if k + count > recs.starts.size or recs.starts[k] != first:
                raise Fallback(f"{name}: record {k} is not where its marker is")
            if count > 1 and not np.array_equal(walked.next[g:g + count - 1],
                                                walked.starts[g + 1:g + count]):
                raise Fallback(f"{name}: records do not chain")
            pos = int(walked.ends[g + count - 1])
            recs.used = k + count
            if pos > a.end:
                raise Fallback(f"{name} runs past the end of the payload")

    def _points(
        self, arr: np.ndarray, alerts: list[_Alert], src: _Walked, fwalk: _Walked | None
    ) -> list[tuple[Any, ...] | None]:
        """Columns of every confirmed record in one go, cleaned in one go, split per alert.

        Rows are put in per-alert order (the trigger, prvDiaSources, then forced sources),
        the order `points_from_dict` sees, so `clean_points_batch` keeps what it would keep.
        """
        ok = [a for a in alerts if a.error is None]
        n_ok = len(ok)
        parts = [a.source for a in ok]
        cols = self._table(arr, self.source, src, parts, False)
        owner = np.repeat(np.arange(n_ok), [p.used for p in parts])
        first_row = np.concatenate([[0], np.cumsum([p.used for p in parts])[:-1]]).astype(
            np.int64)
        alert_mjd = cols[1][first_row] if n_ok else np.empty(0)
        if fwalk is not None and self.forced is not None:
            fparts = [a.forced for a in ok]
            fcols = self._table(arr, self.forced, fwalk, fparts, True)
            fowner = np.repeat(np.arange(n_ok), [p.used for p in fparts])
            order = np.argsort(np.concatenate([owner, fowner]), kind="stable")
            cols = tuple(np.concatenate([c, f])[order] for c, f in zip(cols, fcols, strict=True))
            owner = np.concatenate([owner, fowner])[order]
        band, time, flux, flux_err, withdrawn, forced = cols
        keep, (band, time, mag, err) = lsst.clean_points_batch(
            owner, band, time, flux, flux_err, withdrawn, forced)
        bounds = np.searchsorted(owner[keep], np.arange(n_ok + 1)).tolist()
        mjds = alert_mjd.tolist()
        out: list[tuple[Any, ...] | None] = []
        j = 0
        for a in alerts:
            if a.error is not None:
                out.append(None)
                continue
            lo, hi = bounds[j], bounds[j + 1]
            out.append((str(a.source_id), str(a.object_id), mjds[j],
                        (band[lo:hi], time[lo:hi], mag[lo:hi], err[lo:hi])))
            j += 1
        return out

    @staticmethod
    def _table(
        arr: np.ndarray, rec: ChainRecord, walked: _Walked, parts: list[_Records], forced: bool
    ) -> tuple[np.ndarray, ...]:
        """(band, time, flux, flux err, withdrawn, forced) of the used records, alert by alert."""
        idx = np.concatenate([np.arange(p.first, p.first + p.used) for p in parts]
                             ) if parts else np.empty(0, np.int64)
        marks = {k: v[idx] for k, v in walked.marks.items()}
        n = idx.size
        return (
            rec.bands(arr, marks["band"]),
            rec.column(arr, marks["midpointMjdTai"], "midpointMjdTai"),
            rec.column(arr, marks["scienceFlux"], "scienceFlux"),
            rec.column(arr, marks["scienceFluxErr"], "scienceFluxErr"),
            rec.column(arr, marks["timeWithdrawnMjdTai"], "timeWithdrawnMjdTai")
            if "timeWithdrawnMjdTai" in marks else np.full(n, np.nan),
            np.full(n, forced),
        )


def _find_chain(
    buf: bytes, marker: bytes, start: int, span: tuple[int, int], end: int
) -> np.ndarray:
    """Candidate marker positions: the first at or after `start`, then each within one record.

    `span` is (fewest, most) bytes from one marker to the next, so only a window the size of
    a record is searched each time and the scan stops after the array. This is only a guess
    (a string longer than assumed ends it early); the chain check decides.
    """
    if len(marker) < MIN_MARKER:
        raise Fallback("marker too short to locate records")
    find = buf.find
    lo, hi = span[0], span[1] + len(marker)
    p = find(marker, start, end)
    found = []
    while p >= 0:
        found.append(p)
        p = find(marker, p + lo, min(p + hi, end))
    return np.asarray(found, dtype=np.int64)


def _array_codes(t: Any) -> tuple[int, int]:
    """Branch indexes (null, array) of a ["null", array] field type."""
    if isinstance(t, list):
        kinds = branch_kinds(t)
        return kinds.index("null"), kinds.index("array")
    raise NotWalkable("array field is not a union with null")


def _schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed schema as fastavro's signatures type it (it is a dict already)."""
    return cast(dict[str, Any], schema)
