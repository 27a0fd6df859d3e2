"""Coverage-guided fuzzing of every decoder and reader (issue 18, item 4), with atheris.

Why atheris and not hypothesis: atheris is libFuzzer for Python. It instruments the
project's bytecode (`atheris.instrument_imports`), keeps every input that reaches a new
branch or comparison, and mutates those further. Starting from real alerts and survey files
it therefore reaches the branches that random bytes never hit: a valid Confluent header
followed by an LSST body whose diaSource chain breaks in record 3, a container whose schema
text is valid JSON but not Avro, an OGLE file whose third row has a fourth column.
Hypothesis generates structured values from strategies we would have to write per format,
and shrinks failures well, but it does not learn from coverage; libFuzzer's byte-level
mutation of real files is the right tool for parsers. Crashing and slow inputs are kept
small by keeping, per kind of failure, the smallest input that shows it.

One target per surface (`TARGETS`), each run in a process of its own (`atheris.Setup` and
`atheris.Fuzz` own the process; libFuzzer never returns):

- framing: `framing_of` + `split_confluent` (magic byte, schema id, container magic);
- lsst: the fast projection decoder against plain fastavro (its fallback and reference):
  the fuzzed alert is decoded between two good alerts of the same batch (the walks are
  batch-wide): the good ones must come out as they do alone, and the fuzzed one, where
  fastavro reads it, with fastavro's points (the fast path reads only the head, so it may
  read an alert whose damage lies beyond it);
- ztf: Avro containers (schema inside) through `AlertDecoder`;
- compact: our compact alert, schemaless, through `AlertDecoder(FixedSchema(...))`;
- lightcurve_dir: `read_lightcurve_dir` on a fuzzed manifest and photometry file;
- ogle, eros1, sdss, crts, debosscher: the importers on fuzzed files / archive members;
- tar: the importers' archive reader (`iter_tar_members`) on fuzzed archive bytes.

Contract per input: readers raise nothing but the project's own errors (classes defined in
`broker_plugin` or `training`, minus the internal control-flow ones); `decode_batch` raises
nothing at all and rejects nothing as `internal_error`; no input takes over 100 ms (an input
over it is timed three more times and judged by the fastest). Time is the process's CPU
time: on a shared machine the wall clock mostly measures the other jobs (it is reported
too). atheris's instrumentation makes the code 2-3x slower than it runs in production, so
the figures are conservative. Seeds are real files from ../shared/data, read (and, for the alerts,
trimmed) at run time into a temporary corpus; nothing is copied into the project.

    python bench/fuzz.py --json bench/results/fuzz-2026-12-07.json         # the campaign
    python bench/fuzz.py --targets lsst,ztf --runs 2000 --max-time 10      # a short run
    python bench/fuzz.py --replay tests/fuzz_corpus                         # found cases

Found cases (smallest input per failure) are written under `--artifacts` (a temporary
directory by default); the regression corpus is tests/fuzz_corpus/<target>/.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import hashlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SELFREG_SHARED_DATA", ROOT.parent / "shared" / "data"))
CORPUS = ROOT / "tests" / "fuzz_corpus"
SLOW_MS = 100.0  # CPU ms per input
#: Project exceptions that are control flow inside a module and must never escape it.
INTERNAL_EXCEPTIONS = frozenset({"NotWalkable", "Fallback"})
#: Modules atheris instruments for coverage (the code under test).
INSTRUMENTED = ["broker_plugin", "training"]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class FuzzFinding(Exception):  # noqa: N818 — a finding of the harness, never a project error
    """A contract broken without an exception: an internal_error rejection, a parity miss."""


def is_project_error(exc: BaseException) -> bool:
    """Whether `exc` is one of the project's own error types (defined in its packages)."""
    cls = type(exc)
    return (cls.__module__.split(".")[0] in ("broker_plugin", "training")
            and cls.__name__ not in INTERNAL_EXCEPTIONS)


def never(exc: BaseException) -> bool:
    """For surfaces that must raise nothing (the decoders' `decode_batch`)."""
    return False


@dataclass(frozen=True)
class Target:
    """One fuzzed surface: how to build its check, its seeds and its input size limit."""

    name: str
    doc: str
    make: Callable[[], Callable[[bytes], object]]  # a check may return a note on the input
    seeds: Callable[[Path], list[bytes]]
    max_len: int
    allowed: Callable[[BaseException], bool] = is_project_error


# --------------------------------------------------------------------------- helpers


@functools.cache
def _scratch() -> Path:
    """A per-process directory for the readers' files (in memory where /dev/shm exists)."""
    import atexit
    import shutil

    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="selfreg-fuzz-", dir=base))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _fresh_dir(name: str) -> Path:
    """An emptied scratch sub-directory (one per target, reused for every input)."""
    import shutil

    path = _scratch() / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _tar(members: list[tuple[str, bytes]]) -> bytes | None:
    """An uncompressed tar of `members` (None if a fuzzed name cannot be stored)."""
    buf = io.BytesIO()
    try:
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    except (ValueError, UnicodeError, tarfile.TarError):
        return None
    return buf.getvalue()


def _name_and_body(data: bytes, default: str) -> tuple[str, bytes]:
    """First line as a member/file name (latin-1), the rest as its content."""
    head, sep, body = data.partition(b"\n")
    if not sep:
        return default, data
    name = head.decode("latin-1").strip("\0") or default
    return name, body


def _tar_members(path: Path, limit: int, suffix: str = "") -> list[tuple[str, bytes]]:
    """The first `limit` regular members of a real archive (whose name ends in `suffix`)."""
    out = []
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(suffix):
                handle = archive.extractfile(member)
                if handle is not None:
                    out.append((member.name, handle.read()))
            if len(out) >= limit:
                break
    return out


def _head_lines(data: bytes, n: int) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:n])


def _decoded(batch: Any) -> dict[int, tuple[Any, ...]]:
    """Per input index: (alert id, object id, mjd, survey, [(band, time, mag, err)])."""
    import numpy as np

    out: dict[int, tuple[Any, ...]] = {}
    start = batch.segment_start
    segments: dict[int, list[tuple[Any, ...]]] = {}
    for s, a in enumerate(batch.segment_alert.tolist()):
        sl = slice(int(start[s]), int(start[s] + batch.segment_size[s]))
        segments.setdefault(a, []).append(
            (str(batch.segment_band[s]), batch.time[sl], batch.mag[sl], batch.err[sl]))
    for a, index in enumerate(batch.alert_index.tolist()):
        mjd = float(batch.alert_mjd[a])
        out[index] = (str(batch.alert_id[a]), str(batch.object_id[a]),
                      np.float64(mjd).tobytes(), str(batch.survey[a]), segments.get(a, []))
    return out


def _same_alert(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    import numpy as np

    if a[:4] != b[:4] or len(a[4]) != len(b[4]):
        return False
    return all(sa[0] == sb[0] and all(np.array_equal(x, y, equal_nan=True)
                                      for x, y in zip(sa[1:], sb[1:], strict=True))
               for sa, sb in zip(a[4], b[4], strict=True))


def _no_internal_errors(batch: Any) -> str:
    """`decode_batch` contract: a bad payload is a Rejection with a payload reason (returned)."""
    from broker_plugin.rejections import Reason

    for failure in batch.failures:
        if failure.reason is Reason.INTERNAL_ERROR:
            raise FuzzFinding(f"internal_error rejection: {failure.message}")
    return ", ".join(f"{f.reason}: {f.message}" for f in batch.failures) or "decoded"


# --------------------------------------------------------------------------- targets


def make_framing() -> Callable[[bytes], object]:
    from broker_plugin.avro.framing import split_confluent
    from broker_plugin.decoding.wire import Framing, framing_of

    def check(data: bytes) -> None:
        for schemaless in (False, True):
            with contextlib.suppress(ValueError):  # WireFormatError is checked below
                framing = framing_of(data, schemaless_allowed=schemaless)
                if framing is Framing.CONFLUENT:
                    schema_id, body = split_confluent(data)
                    if not 0 <= schema_id < 2**32 or len(body) != len(data) - 5:
                        raise FuzzFinding(f"split_confluent: id {schema_id}, body {len(body)}")
        split_confluent(data)  # a WireFormatError here is the allowed outcome

    return check


def seeds_framing(shared: Path) -> list[bytes]:
    heads = [p[:16] for p in _lsst_wire(shared)[:3]]
    heads += [p.read_bytes()[:16] for p in sorted((shared / "ztf_sample_alerts").glob("*.avro"))]
    return [*heads, b"", b"\x00", b"\x00\x00\x00\x03\xe8"]


def _lsst_schema_root() -> Path:
    import lsst.alert.packet as packet

    return Path(packet.__file__).parent / "schema"


def _lsst_wire(shared: Path) -> list[bytes]:
    folders = ("lsst_alerts_real/wire_v10_0_fink_client",
               "lsst_alerts_real/wire_v10_0_fink_filters")
    return [p.read_bytes() for folder in folders
            for p in sorted((shared / folder).glob("*.avro"))]


@functools.cache
def _lsst_neighbours() -> dict[int, bytes]:
    """A good alert per schema id (10.0 and 11.1), made by our encoder (no shared data)."""
    import numpy as np

    from broker_plugin.alerts import LsstAlertEncoder, load_lsst_schema, serialise
    from broker_plugin.lightcurve import LightCurve

    t = 60000.0 + np.arange(6) * 1.3
    curve = LightCurve("fuzz-neighbour", t, 18 + 0.2 * np.sin(t), np.full(6, 0.02), band="r")
    out = {}
    for version, schema_id in (("10.0", 1000), ("11.1", 1101)):
        schema = load_lsst_schema(version, _lsst_schema_root())
        alert = LsstAlertEncoder(schema).encode([curve], forced=True)
        out[schema_id] = serialise(schema, alert, schema_id)
    return out


def make_lsst() -> Callable[[bytes], object]:
    from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource

    source = DirectorySchemaSource(_lsst_schema_root())
    fast = AlertDecoder(source, fast=True)
    reference = AlertDecoder(source, fast=False)
    neighbours = _lsst_neighbours()
    alone = {k: _decoded(fast.decode_batch([v]))[0] for k, v in neighbours.items()}

    def check(data: bytes) -> str:
        ref = reference.decode_batch([data])
        note = _no_internal_errors(ref)
        keys = sorted(neighbours)
        batch = fast.decode_batch([neighbours[keys[0]], data, neighbours[keys[1]]])
        _no_internal_errors(batch)
        ref_alerts, got = _decoded(ref), _decoded(batch)
        for index, key in ((0, keys[0]), (2, keys[1])):
            if index not in got or not _same_alert(got[index], alone[key]):
                raise FuzzFinding("a good alert decodes differently beside the fuzzed one")
        if 0 in ref_alerts and (1 not in got or not _same_alert(ref_alerts[0], got[1])):
            raise FuzzFinding("fast decoder differs from fastavro on an alert both can read")
        return note

    return check


def seeds_lsst(shared: Path) -> list[bytes]:
    """Real LSSTCam alerts, cutouts dropped and histories cut to 0-12 records (10.0, 11.1)."""
    import fastavro

    from broker_plugin.alerts import load_lsst_schema, serialise
    from broker_plugin.alerts.convert import RecordConverter

    root = _lsst_schema_root()
    v10 = load_lsst_schema("10.0", root)
    v11 = load_lsst_schema("11.1", root)
    convert = RecordConverter(v11)
    seeds = []
    payloads = _lsst_wire(shared)
    for i, payload in enumerate(payloads[:7] + payloads[7:12]):
        record = fastavro.schemaless_reader(io.BytesIO(payload[5:]), v10, None)
        keep = (0, 1, 3, 12)[i % 4]
        for key in ("cutoutDifference", "cutoutScience", "cutoutTemplate"):
            record[key] = None
        for key in ("prvDiaSources", "prvDiaForcedSources"):
            if record.get(key):
                record[key] = record[key][:keep]
        seeds.append(serialise(v10, record, 1000))
        if i % 2:
            seeds.append(serialise(v11, convert(record), 1101))
    return seeds + list(_lsst_neighbours().values())


def make_ztf() -> Callable[[bytes], object]:
    from broker_plugin.decoding import AlertDecoder

    decoder = AlertDecoder(None)

    def check(data: bytes) -> str:
        return _no_internal_errors(decoder.decode_batch([data]))

    return check


def seeds_ztf(shared: Path) -> list[bytes]:
    """The two real ZTF containers, and their records re-written small (null codec)."""
    import fastavro

    from broker_plugin.alerts import container

    seeds = []
    for path in sorted((shared / "ztf_sample_alerts").glob("*.avro")):
        raw = path.read_bytes()
        seeds.append(raw)
        reader = fastavro.reader(io.BytesIO(raw))
        schema = reader.writer_schema
        records = []
        for record in reader:
            record["prv_candidates"] = (record.get("prv_candidates") or [])[:4]
            for key in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
                if record.get(key):
                    record[key]["stampData"] = record[key]["stampData"][:16]
            records.append(record)
        seeds.append(container(schema, records))
    return seeds


@functools.cache
def _compact_schema() -> dict[str, Any]:
    from broker_plugin.avro import schema_files

    return dict(schema_files.raw("compact_alert"))


def make_compact() -> Callable[[bytes], object]:
    from broker_plugin.decoding import AlertDecoder, FixedSchema

    decoder = AlertDecoder(FixedSchema(_compact_schema()))

    def check(data: bytes) -> str:
        return _no_internal_errors(decoder.decode_batch([data]))

    return check


def seeds_compact(shared: Path) -> list[bytes]:
    """Compact alerts of real OGLE and SDSS curves (one and five bands)."""
    import numpy as np
    import polars as pl

    from broker_plugin.alerts import encode_compact, serialise
    from broker_plugin.lightcurve import LightCurve
    from training.importers.ogle import parse_dat

    schema = _compact_schema()
    curves = []
    for path in sorted((shared / "ogle4_lmc_dsct").glob("*.dat")):
        table = parse_dat(path.read_bytes())[:25]
        curves.append([LightCurve(path.stem, table[:, 0], table[:, 1], table[:, 2], band="I",
                                  survey="OGLE-IV")])
    [(name, raw)] = _tar_members(shared / "sdss_s82_rrlyr" / "light-curves.tar.gz", 1, ".csv")
    frame = pl.read_csv(io.BytesIO(raw)).head(40)
    curves.append([
        LightCurve(Path(name).stem, part["time"].to_numpy(), part["mag"].to_numpy(),
                   part["magerr"].to_numpy(), band=str(band), survey="SDSS-S82")
        for (band,), part in frame.group_by("band", maintain_order=True)])
    seeds = [serialise(schema, encode_compact(c, upto=k)) for c in curves for k in (1, 20)]
    empty = {"alert_id": "1", "object_id": "x", "alert_mjd": float(np.pi), "origin": "",
             "bands": []}
    return [*seeds, serialise(schema, empty)]


def make_lightcurve_dir() -> Callable[[bytes], object]:
    from broker_plugin.lightcurve_dir import read_lightcurve_dir

    def check(data: bytes) -> None:
        manifest, sep, photometry = data.partition(b"\0")
        if not sep:
            manifest, photometry = b"path,object_id\nlc/a,x\n", data
        directory = _fresh_dir("lcdir")
        (directory / "lc").mkdir()
        (directory / "manifest.csv").write_bytes(manifest)
        (directory / "lc" / "a").write_bytes(photometry)
        read_lightcurve_dir(directory)

    return check


def seeds_lightcurve_dir(shared: Path) -> list[bytes]:
    """Manifests with real OGLE `.dat` and SDSS CSV photometry, and our own CSV layout."""
    dat = _head_lines(sorted((shared / "ogle4_lmc_dsct").glob("*.dat"))[0].read_bytes(), 30)
    [(_, sdss)] = _tar_members(shared / "sdss_s82_rrlyr" / "light-curves.tar.gz", 1, ".csv")
    sdss = _head_lines(sdss, 30)
    ours = b"time,mag,err\n" + b"".join(
        b",".join(line.split()[:3]) + b"\n" for line in dat.splitlines())
    manifest = (b"path,object_id,label,band,survey,period\n"
                b"lc/a,OGLE-LMC-DSCT-00310,DSCT,I,OGLE,0.1\n")
    twice = manifest + b"lc/a,OGLE-LMC-DSCT-00311,,I,,\n"
    text_column = sdss.replace(b"magerr", b"err", 1)
    return [manifest + b"\0" + dat, manifest + b"\0" + ours, twice + b"\0" + ours,
            manifest + b"\0" + sdss, manifest + b"\0" + text_column, dat]


def make_ogle() -> Callable[[bytes], object]:
    from training.importers import load_ogle

    def check(data: bytes) -> None:
        name, body = _name_and_body(data, "OGLE-LMC-CEP-0001.dat")
        dat, _, rest = body.partition(b"\0")
        ident, _, periods = rest.partition(b"\0")
        name = Path(name).name
        if not name or "\0" in name or name in (".", "..", "ident.dat", "cepF.dat"):
            return
        directory = _fresh_dir("ogle")
        path = directory / name
        try:
            path.write_bytes(dat)
        except OSError:  # a fuzzed name the file system refuses: not the importer's input
            return
        if ident:
            (directory / "ident.dat").write_bytes(ident)
        if periods:
            (directory / "cepF.dat").write_bytes(periods)
        load_ogle(path)

    return check


def seeds_ogle(shared: Path) -> list[bytes]:
    """Real OGLE-III Cepheid and OGLE-IV delta Scuti files with their ident/period rows."""
    folder = shared / "ogle3_lmc_cep"
    ident = (folder / "ident.dat").read_bytes().splitlines(keepends=True)
    periods = (folder / "cepFO3.dat").read_bytes().splitlines(keepends=True)
    seeds = []
    for name, raw in _tar_members(folder / "phot_I.tar.gz", 3, ".dat"):
        star = Path(name).stem.encode()
        rows_i = b"".join(ident[:2] + [line for line in ident if line.startswith(star)])
        rows_p = b"".join(periods[:2] + [line for line in periods if line.startswith(star)])
        seeds.append(Path(name).name.encode() + b"\n" + _head_lines(raw, 30) + b"\0" + rows_i
                     + b"\0" + rows_p)
    for path in sorted((shared / "ogle4_lmc_dsct").glob("*.dat")):
        seeds.append(path.name.encode() + b"\n" + _head_lines(path.read_bytes(), 30))
    return seeds


def make_eros1() -> Callable[[bytes], object]:
    from training.importers import load_eros1

    def check(data: bytes) -> None:
        table, _, features = data.partition(b"\0")
        directory = _fresh_dir("eros1")
        (directory / "train.csv").write_bytes(table)
        (directory / "train_varlength_features.csv").write_bytes(features)
        load_eros1(directory)

    return check


def seeds_eros1(shared: Path) -> list[bytes]:
    """The real train.csv and light-curve table, cut to their first stars."""
    folder = shared / "eros1_lmc_train"
    table = (folder / "train.csv").read_bytes()
    with gzip.open(folder / "train_varlength_features.csv.gz", "rb") as handle:
        features = b"".join(itertools.islice(handle, 4))
    return [_head_lines(table, n) + b"\0" + _head_lines(features, n) for n in (2, 4)]


def make_sdss() -> Callable[[bytes], object]:
    from training.importers import load_sdss_rrlyr

    def check(data: bytes) -> None:
        name, body = _name_and_body(data, "light-curves/1.csv")
        periods, _, star = body.partition(b"\0")
        archive = _tar([(name, star)])
        if archive is None:
            return
        directory = _fresh_dir("sdss")
        (directory / "periods.csv").write_bytes(periods)
        (directory / "light-curves.tar.gz").write_bytes(archive)
        load_sdss_rrlyr(directory)

    return check


def seeds_sdss(shared: Path) -> list[bytes]:
    folder = shared / "sdss_s82_rrlyr"
    periods = (folder / "periods.csv").read_bytes().splitlines(keepends=True)
    seeds = []
    for name, raw in _tar_members(folder / "light-curves.tar.gz", 2, ".csv"):
        star = Path(name).stem.encode()
        rows = [periods[0], *(line for line in periods if line.split(b",")[0] == star),
                periods[1]]
        seeds.append(name.encode() + b"\n" + b"".join(rows) + b"\0" + _head_lines(raw, 30))
    return seeds


def _make_archive_importer(load_name: str, archive: str, default: str
                           ) -> Callable[[], Callable[[bytes], object]]:
    def make() -> Callable[[bytes], object]:
        import training.importers as importers

        load = getattr(importers, load_name)

        def check(data: bytes) -> None:
            name, body = _name_and_body(data, default)
            packed = _tar([(name, body)])
            if packed is None:
                return
            directory = _fresh_dir(load_name)
            (directory / archive).write_bytes(packed)
            load(directory)

        return check

    return make


def seeds_crts(shared: Path) -> list[bytes]:
    members = _tar_members(shared / "crts_drake2014" / "train_lc.tar.gz", 3, ".csv")
    return [name.encode() + b"\n" + _head_lines(raw, 25) for name, raw in members]


_TR = re.compile(rb"<TR\b.*?</TR>\s*", re.S)
_FEATURE = re.compile(rb"<Feature>.*?</Feature>\s*", re.S)


def seeds_debosscher(shared: Path) -> list[bytes]:
    """Real VOSource files, their time series cut to 12 rows and their features to 2."""
    seeds = []
    for name, raw in _tar_members(shared / "debosscher2007" / "vosource_xml.tar.gz", 3, ".xml"):
        for pattern, keep in ((_TR, 12), (_FEATURE, 2)):
            found = list(pattern.finditer(raw))
            if len(found) > keep:
                raw = raw[:found[keep].start()] + raw[found[-1].end():]
        seeds.append(name.encode() + b"\n" + raw)
    return seeds


def make_tar() -> Callable[[bytes], object]:
    from training.importers.sources import iter_tar_members

    def check(data: bytes) -> None:
        path = _fresh_dir("tar") / "archive.tar.gz"
        path.write_bytes(data)
        for _ in iter_tar_members(path):
            pass

    return check


def seeds_tar(shared: Path) -> list[bytes]:
    """Small archives of real members: plain tar and gzip, as the surveys ship them."""
    seeds = []
    for archive, n in (("crts_drake2014/train_lc.tar.gz", 2),
                       ("sdss_s82_rrlyr/light-curves.tar.gz", 1)):
        members = [(name, _head_lines(raw, 5)) for name, raw in _tar_members(shared / archive, n)]
        plain = _tar(members)
        assert plain is not None
        seeds += [plain, gzip.compress(plain, mtime=0)]
    return seeds


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("framing", "Confluent magic byte + schema id, container magic", make_framing,
           seeds_framing, 64),
    Target("lsst", "LSST fast decoder vs its fastavro fallback, alone and in a batch",
           make_lsst, seeds_lsst, 65536, never),
    Target("ztf", "ZTF Avro containers through AlertDecoder", make_ztf, seeds_ztf, 81920,
           never),
    Target("compact", "compact alerts (schemaless) through AlertDecoder", make_compact,
           seeds_compact, 8192, never),
    Target("lightcurve_dir", "read_lightcurve_dir: manifest + photometry file",
           make_lightcurve_dir, seeds_lightcurve_dir, 8192),
    Target("ogle", "OGLE importer: .dat, ident.dat, period table", make_ogle, seeds_ogle,
           8192),
    Target("eros1", "EROS-1 importer: train.csv + list-string light-curve table", make_eros1,
           seeds_eros1, 65536),
    Target("sdss", "SDSS Stripe 82 importer: periods.csv + one archive member", make_sdss,
           seeds_sdss, 8192),
    Target("crts", "CRTS importer: one archive member (name line + CSV)",
           _make_archive_importer("load_crts", "train_lc.tar.gz", "train/1-RRab.csv"),
           seeds_crts, 8192),
    Target("debosscher", "Debosscher importer: one VOSource XML member",
           _make_archive_importer("load_debosscher", "vosource_xml.tar.gz",
                                  "debosscher/1.xml"),
           seeds_debosscher, 32768),
    Target("tar", "the importers' tar(.gz) reader on raw archive bytes", make_tar, seeds_tar,
           8192),
)}


# --------------------------------------------------------------------------- one input


@dataclass
class Outcome:
    """What one input did: an allowed error (its type), a finding (signature), its time.

    `ms` is CPU time of this process (what the input costs; polars runs on one thread
    here), `wall_ms` the elapsed time, which on a shared machine mostly measures the others.
    """

    ms: float
    error: str | None = None
    finding: str | None = None
    message: str = ""
    note: str = ""
    wall_ms: float = 0.0


def _signature(exc: BaseException) -> str:
    """Type and innermost project frame (file:line): one kind of failure, however reached."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if any(f"/{p}/" in f.filename for p in INSTRUMENTED)]
    where = (ours or frames)[-1] if frames else None
    place = f"{Path(where.filename).name}:{where.lineno}" if where is not None else "?"
    if isinstance(exc, FuzzFinding):  # an internal_error names its exception type: the kind
        return "FuzzFinding " + re.sub(r"(rejection: \w+).*", r"\1", str(exc), flags=re.S)
    return f"{type(exc).__name__} at {place}"


def run_one(target: Target, check: Callable[[bytes], object], data: bytes) -> Outcome:
    """Run one input through `check`, classify what it raised, time it (retimed if slow)."""

    def once() -> Outcome:
        started, wall = time.process_time(), time.perf_counter()
        note: object = None
        error = finding = None
        message = ""
        try:
            note = check(data)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:500]
            if target.allowed(exc):
                error = type(exc).__name__
            else:
                finding = _signature(exc)
        return Outcome((time.process_time() - started) * 1e3, error, finding, message,
                       str(note or "")[:300], (time.perf_counter() - wall) * 1e3)

    outcome = once()
    if outcome.ms > SLOW_MS:  # a GC pause, a cold cache: judge by the fastest of four
        outcome.ms = min([outcome.ms] + [once().ms for _ in range(3)])
    return outcome


# --------------------------------------------------------------------------- worker


@dataclass
class Stats:
    """Counts of one target's run, written as JSON by its worker."""

    target: str
    inputs: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    slowest_ms: float = 0.0
    slowest_size: int = 0
    slowest_wall_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "inputs": self.inputs, "seconds": round(self.seconds, 1),
            "inputs_per_s": round(self.inputs / self.seconds, 1) if self.seconds else None,
            "project_errors": dict(self.errors.most_common()),
            "exceptions": sum(f["count"] for f in self.findings.values()
                              if f["kind"] == "crash"),
            "slow_inputs": sum(f["count"] for f in self.findings.values() if f["kind"] == "slow"),
            "slowest_ms": round(self.slowest_ms, 2), "slowest_size": self.slowest_size,
            "slowest_wall_ms": round(self.slowest_wall_ms, 2),
            "findings": list(self.findings.values()),
        }


def worker(name: str, runs: int, max_time: float, corpus: Path, stats_path: Path,
           artifacts: Path, seed: int) -> None:
    """Fuzz one target in this process until `runs` inputs or `max_time` s (never returns)."""
    import atheris

    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    target = TARGETS[name]
    with atheris.instrument_imports(include=INSTRUMENTED):
        check = target.make()
    for path in sorted(corpus.iterdir()):  # warm caches and lazy imports, untimed
        run_one(target, check, path.read_bytes()[:target.max_len])
    stats = Stats(name)
    out = artifacts / name
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    next_write = started + 2.0

    def write() -> None:
        stats.seconds = time.monotonic() - started
        stats_path.write_text(json.dumps(stats.as_json(), indent=1))

    def keep(kind: str, signature: str, data: bytes, message: str, ms: float) -> None:
        digest = hashlib.sha1(signature.encode()).hexdigest()[:12]
        found = stats.findings.get(signature)
        if found is None:
            found = stats.findings[signature] = {
                "kind": kind, "signature": signature, "count": 0, "size": None}
        found["count"] += 1
        found["ms"] = round(max(found.get("ms", 0.0), ms), 2)
        if found["size"] is None or len(data) < found["size"]:  # keep the smallest
            path = out / f"{kind}-{digest}"
            path.write_bytes(data)
            found.update(size=len(data), file=str(path), message=message)
        write()

    def one(data: bytes) -> None:
        nonlocal next_write
        outcome = run_one(target, check, data)
        stats.inputs += 1
        if outcome.error is not None:
            stats.errors[outcome.error] += 1
        if outcome.finding is not None:
            keep("crash", outcome.finding, data, outcome.message, outcome.ms)
        if outcome.ms > SLOW_MS:
            keep("slow", "slow", data, f"{outcome.ms:.0f} ms", outcome.ms)
        if outcome.ms > stats.slowest_ms:
            stats.slowest_ms, stats.slowest_size = outcome.ms, len(data)
        stats.slowest_wall_ms = max(stats.slowest_wall_ms, outcome.wall_ms)
        now = time.monotonic()
        if stats.inputs >= runs or now - started >= max_time:
            write()
            sys.stdout.flush()
            import shutil

            shutil.rmtree(_scratch(), ignore_errors=True)  # os._exit runs no atexit hooks
            os._exit(0)
        if now >= next_write:
            write()
            next_write = now + 2.0

    atheris.Setup([sys.argv[0], f"-max_len={target.max_len}", "-timeout=60",
                   "-rss_limit_mb=4096", f"-seed={seed}", f"-artifact_prefix={out}/",
                   "-print_final_stats=0", str(corpus)], one)
    atheris.Fuzz()


# --------------------------------------------------------------------------- campaign


_COV = re.compile(rb"#\d+\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)")


def libfuzzer_coverage(log: bytes) -> dict[str, int] | None:
    """Edges and features covered at start (seeds read) and at the end, from libFuzzer's log:
    what the coverage guidance added beyond the seeds."""
    lines = _COV.findall(log)
    if not lines:
        return None
    start = next((x for x in lines if x[0] == b"INITED"), lines[0])
    return {"edges_from_seeds": int(start[1]), "features_from_seeds": int(start[2]),
            "edges": int(lines[-1][1]), "features": int(lines[-1][2]),
            "corpus_entries": int(lines[-1][3])}


def fuzz_target(name: str, runs: int, max_time: float, workdir: Path, artifacts: Path,
                shared: Path, seed: int = 1, say: Callable[[str], None] = print
                ) -> dict[str, Any]:
    """Run one target's worker process; its stats (plus exit code and log tail) as a dict."""
    target = TARGETS[name]
    corpus = workdir / name / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(target.seeds(shared)):
        (corpus / f"seed-{i:03d}").write_bytes(data)
    stats_path = workdir / name / "stats.json"
    log = workdir / name / "libfuzzer.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--runs",
           str(runs), "--max-time", str(max_time), "--corpus", str(corpus), "--stats",
           str(stats_path), "--artifacts", str(artifacts), "--seed", str(seed)]
    env = dict(os.environ, POLARS_MAX_THREADS="1", PYTHONHASHSEED="0")
    say(f"{name}: fuzzing up to {runs:,} inputs / {max_time:.0f} s ({target.doc})")
    with open(log, "wb") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env,
                              timeout=max_time + 600, check=False)
    result = (json.loads(stats_path.read_text()) if stats_path.exists()
              else Stats(name).as_json())
    result["exit_code"] = proc.returncode
    result["coverage"] = libfuzzer_coverage(log.read_bytes())
    result["seeds"] = len(list(corpus.glob("seed-*")))
    result["corpus_size"] = len(list(corpus.iterdir()))
    if proc.returncode != 0:  # libFuzzer stopped on its own (a crash outside our catch)
        tail = log.read_bytes()[-3000:].decode(errors="replace")
        result["findings"].append({"kind": "worker-exit", "count": 1, "message": tail,
                                   "files": [str(p) for p in (artifacts / name).glob("*-*")
                                             if p.name.split("-")[0] in
                                             ("crash", "timeout", "oom", "leak")]})
    say(f"{name}: {result['inputs']:,} inputs in {result['seconds']} s, "
        f"{result['exceptions']} exceptions, slowest {result['slowest_ms']} ms, "
        f"{len(result['findings'])} finding kinds, exit {proc.returncode}")
    return result


def campaign(names: list[str], runs: int, max_time: float, artifacts: Path, shared: Path,
             seed: int = 1, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every target in turn (one process at a time: the machine is shared)."""
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="selfreg-fuzz-work-") as work:
        results = [fuzz_target(n, runs, max_time, Path(work), artifacts, shared, seed, say)
                   for n in names]
    return {
        "tool": "atheris (libFuzzer, coverage-guided)",
        "date": time.strftime("%Y-%m-%d", time.gmtime(started)),
        "command": " ".join(["python", "bench/fuzz.py", *sys.argv[1:]]),
        "runs_per_target": runs, "max_time_per_target_s": max_time,
        "slow_ms": SLOW_MS,
        "total_inputs": sum(r["inputs"] for r in results),
        "total_exceptions": sum(r["exceptions"] for r in results),
        "total_slow_inputs": sum(r["slow_inputs"] for r in results),
        "seconds": round(time.time() - started, 1),
        "targets": results,
    }


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new`'s targets replacing the same targets of `old`; totals recomputed, both runs'
    commands kept."""
    fresh = {t["target"] for t in new["targets"]}
    targets = [t for t in old["targets"] if t["target"] not in fresh] + new["targets"]
    targets.sort(key=lambda t: list(TARGETS).index(t["target"]))
    runs = old.get("runs", [{k: old[k] for k in ("command", "date", "seconds") if k in old}])
    return {**new, "targets": targets,
            "runs": [*runs, {"command": new["command"], "date": new["date"],
                             "seconds": new["seconds"], "targets": sorted(fresh)}],
            "total_inputs": sum(t["inputs"] for t in targets),
            "total_exceptions": sum(t["exceptions"] for t in targets),
            "total_slow_inputs": sum(t["slow_inputs"] for t in targets),
            "seconds": round(sum(r["seconds"] for r in runs) + new["seconds"], 1)}


# --------------------------------------------------------------------------- replay


def corpus_files(root: Path = CORPUS) -> Iterator[tuple[str, Path]]:
    """(target, file) of every saved case under root/<target>/."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                yield folder.name, path


def replay(root: Path, say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every corpus file through its target: one record per file (`ok` if only project
    errors were raised, or for decoders none, and it took at most `SLOW_MS`)."""
    checks: dict[str, Callable[[bytes], object] | str] = {}
    records = []
    for name, path in corpus_files(root):
        target = TARGETS[name]
        if name not in checks:
            try:
                checks[name] = target.make()
            except ImportError as exc:  # lsst-alert-packet is a test extra
                checks[name] = f"skipped: {exc}"
        check = checks[name]
        record: dict[str, Any] = {"target": name, "file": path.name}
        if isinstance(check, str):
            record.update(ok=None, outcome=check)
        else:
            outcome = run_one(target, check, path.read_bytes())
            ok = outcome.finding is None and outcome.ms <= SLOW_MS
            record.update(ok=ok, ms=round(outcome.ms, 2), error=outcome.error,
                          finding=outcome.finding, message=outcome.message or outcome.note)
        records.append(record)
        say(f"{ {True: 'ok  ', False: 'FAIL', None: 'skip'}[record['ok']]} {name}/{path.name}: "
            f"{record.get('ms', '-')} ms, {record.get('error') or record.get('finding') or ''} "
            f"{record.get('message') or record.get('outcome', '')}")
    return records


def minimize(name: str, data: bytes, budget_s: float = 60.0) -> bytes:
    """The smallest input found (by cutting chunks, halving their size) that still shows the
    same finding (or is still slow) as `data`: what goes into the regression corpus."""
    target = TARGETS[name]
    check = target.make()

    def kind(candidate: bytes) -> str | None:
        outcome = run_one(target, check, candidate)
        return outcome.finding or ("slow" if outcome.ms > SLOW_MS else None)

    wanted = kind(data)
    if wanted is None:
        raise SystemExit(f"{name}: this input shows no finding; nothing to minimize")
    deadline = time.monotonic() + budget_s
    chunk = max(1, len(data) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        start, cut = 0, False
        while start < len(data) and time.monotonic() < deadline:
            candidate = data[:start] + data[start + chunk:]
            if candidate != data and kind(candidate) == wanted:
                data, cut = candidate, True
            else:
                start += chunk
        if not cut:
            chunk //= 2
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated, from {', '.join(TARGETS)}")
    parser.add_argument("--runs", type=int, default=300_000, help="inputs per target")
    parser.add_argument("--max-time", type=float, default=240.0, help="seconds per target")
    parser.add_argument("--json", type=Path, help="write the per-target figures here")
    parser.add_argument("--artifacts", type=Path, help="where found cases go (default: temp)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--replay", type=Path, help="replay a corpus folder and exit")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other targets' entries of an existing --json file "
                             "(a target re-run after a fix)")
    parser.add_argument("--minimize", type=Path, metavar="FILE",
                        help="shrink a found case of --targets (one target) and print it out "
                             "to --out")
    parser.add_argument("--out", type=Path, help="where --minimize writes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.runs, args.max_time, args.corpus, args.stats, args.artifacts,
               args.seed)
    if args.replay:
        records = replay(args.replay)
        if args.json:
            args.json.write_text(json.dumps(records, indent=1) + "\n")
        return 1 if any(r["ok"] is False for r in records) else 0
    if args.minimize:
        small = minimize(args.targets, args.minimize.read_bytes())
        (args.out or args.minimize.with_suffix(".min")).write_bytes(small)
        print(f"{args.minimize}: {args.minimize.stat().st_size} -> {len(small)} bytes")
        return 0
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; valid: {', '.join(TARGETS)}")
    if not args.shared_data.is_dir():
        parser.error(f"{args.shared_data}: no real data for the seeds (--shared-data)")
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="selfreg-fuzz-found-"))
    result = campaign(names, args.runs, args.max_time, artifacts, args.shared_data, args.seed)
    result["artifacts"] = str(artifacts)
    if args.merge and args.json and args.json.exists():
        result = merged(json.loads(args.json.read_text()), result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"total: {result['total_inputs']:,} inputs, {result['total_exceptions']} exceptions, "
          f"{result['total_slow_inputs']} slow; found cases in {artifacts}")
    return 0 if not (result["total_exceptions"] or result["total_slow_inputs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
