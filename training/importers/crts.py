"""Catalina Real-time Transient Survey (CSS) periodic variables of Drake et al. (2014).

Input: `train_lc.tar.gz` (the labelled train split of a public classification set built on
Drake et al. 2014, ApJS 213, 9), or the folder holding it; streamed, not extracted. Members
`train/<CSS id>-<class>.csv`, one per star, header `"ID","MJD","mag","magerr","RA","Dec"`, one
row per epoch (MJD in days; RA/Dec of the detection in degrees).

Output: one curve per star, survey `CRTS`, band `V`. CSS observes unfiltered (clear); its
magnitudes are calibrated to Johnson V ("V_CSS"), so `V` stands for that V-like band, not a
filtered V. Labels from the class in the file name:

===========  ========================================================
label        CRTS classes (Drake et al. 2014 names)
===========  ========================================================
ECL          EA, EW, beta_lyrae (detached, contact, beta Lyrae)
RRLYR        RRab, RRc, RRd, Blazhko
LPV          LPV
DSCT         HADS, LADS (high- and low-amplitude delta Scuti)
CEP          none: the set has no classical Cepheids
(empty)      every other class (RS_CVn, ELL, Cep_II, PCEB, ACEP, Hump, ...)
===========  ========================================================

Curves of the other classes are kept with an empty label (read back as `None`): they are
the set's out-of-distribution objects, not noise to drop. Every curve carries the original
class in the manifest column `source_class` (`RRab`, `RS_CVn`, ...) and the star's median
position in `ra` and `dec`. Training skips unlabelled curves
(`training.classifier.data.featurise_labelled` counts them as 'unlabelled'); code of its own
filters with `curve.label in CLASSES`.

Rows are stored as published: the featuriser owns cleaning. The report counts rows that
repeat an earlier row exactly (the featuriser drops those) and rows that share an MJD with
another row of a different magnitude (two measurements at one epoch).

Members are parsed in batches of ~250,000 rows by one polars call each (a batch with an
unreadable member is re-parsed member by member, skipping the culprit): parsing each
300-row file on its own cost five times as long, all in per-call overhead.
"""

from __future__ import annotations

import io
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import polars as pl

from broker_plugin.lightcurve import LightCurve
from training.importers.output import collect_import, write_import
from training.importers.report import ImportReport
from training.importers.sources import find_archive, iter_star_members

SURVEY = "CRTS"
BAND = "V"
ARCHIVE = "train_lc.tar.gz"
LABEL_OF_CLASS: Mapping[str, str] = {
    "EA": "ECL", "EW": "ECL", "beta_lyrae": "ECL",
    "RRab": "RRLYR", "RRc": "RRLYR", "RRd": "RRLYR", "Blazhko": "RRLYR",
    "LPV": "LPV",
    "HADS": "DSCT", "LADS": "DSCT",
}
COLUMNS = ("ID", "MJD", "mag", "magerr", "RA", "Dec")
HEADER = ",".join(f'"{c}"' for c in COLUMNS)
MEMBER = re.compile(r"^(?P<id>[^-/]+)-(?P<cls>[A-Za-z0-9_+]+)\.csv$")
_SCHEMA = {"ID": pl.Utf8, **{c: pl.Float64 for c in COLUMNS[1:]}}
BATCH_ROWS = 250_000  # rows parsed per polars call


def import_crts(
    src: str | Path, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> ImportReport:
    """Convert the CRTS train archive into the light-curve directory `out`."""
    started = time.perf_counter()
    archive, report = _prepare(Path(src))
    return write_import(
        out, _scan(archive, report, progress), report, overwrite=overwrite, started=started
    )


def load_crts(src: str | Path, progress: bool = False) -> tuple[list[LightCurve], ImportReport]:
    """The same curves `import_crts` writes, in memory, sorted by star id."""
    started = time.perf_counter()
    archive, report = _prepare(Path(src))
    return collect_import(_scan(archive, report, progress), report, started=started)


def _prepare(src: Path) -> tuple[Path, ImportReport]:
    give = f"give the CRTS {ARCHIVE} (members train/<CSS id>-<class>.csv) or its folder"
    archive = find_archive(src, ARCHIVE, give)
    return archive, ImportReport(source=archive, survey=SURVEY, unit="files")


def _scan(archive: Path, report: ImportReport, progress: bool) -> Iterator[LightCurve]:
    seen: set[str] = set()
    classes: Counter[str] = Counter()
    counts = Counter[str]()
    batch: list[tuple[str, str, bytes]] = []
    rows = 0
    for member, data in iter_star_members(archive, ".csv", report, progress):
        match = MEMBER.match(member.name)
        if match is None:
            report.skip("file name is not <CSS id>-<class>.csv")
            continue
        if match["id"] in seen:
            report.skip("star: duplicate id in the archive (only the first file read)")
            continue
        seen.add(match["id"])
        batch.append((match["id"], match["cls"], data))
        rows += data.count(b"\n")
        if rows >= BATCH_ROWS:
            yield from _curves(batch, report, classes, counts)
            batch, rows = [], 0
    yield from _curves(batch, report, classes, counts)
    if classes:
        report.notes.append("source classes: " + ", ".join(
            f"{c} {n:,}" + ("" if c in LABEL_OF_CLASS else " (unlabelled)")
            for c, n in classes.most_common()))
    if counts["repeated"]:
        report.notes.append(
            f"{counts['repeated']:,} rows in {counts['repeated curves']:,} curves repeat an "
            "earlier row exactly (kept; the featuriser drops repeated rows)")
    if counts["same time"]:
        report.notes.append(
            f"{counts['same time']:,} rows in {counts['same time curves']:,} curves share their "
            "MJD with a row of another magnitude (kept)")
    report.check_imported(
        archive, "no .csv members",
        f"expected train/<CSS id>-<class>.csv members with header {HEADER}",
    )


def _curves(
    batch: list[tuple[str, str, bytes]],
    report: ImportReport,
    classes: Counter[str],
    counts: Counter[str],
) -> Iterator[LightCurve]:
    """The curves of a batch of members, parsed together (one polars call for all rows)."""
    members, frame = _read_batch(batch, report)
    if not members:
        return
    stars = np.array([star for star, _ in members], dtype=object)
    frame = frame.with_columns(pl.Series("star", stars[frame["i"].to_numpy()], dtype=pl.Utf8))
    stats = frame.group_by("i").agg(
        pl.len().alias("n"),
        pl.col("ID").ne_missing(pl.col("star")).any().alias("other_id"),
        pl.struct("MJD", "mag", "magerr").n_unique().alias("distinct"),
        pl.col("MJD").n_unique().alias("times"),
        pl.col("RA").median().alias("ra"),
        pl.col("Dec").median().alias("dec"),
    ).sort("i")
    values = frame.select("MJD", "mag", "magerr").to_numpy()
    starts = [0, *np.cumsum(stats["n"].to_numpy(), dtype=np.int64).tolist()]
    for (star, source_class), row, start, end in zip(
        members, stats.iter_rows(named=True), starts[:-1], starts[1:], strict=True
    ):
        if row["other_id"]:
            report.skip("star: ID column differs from the id in the file name")
            continue
        exact = row["n"] - row["distinct"]
        shared = row["distinct"] - row["times"]
        counts.update({"repeated": exact, "repeated curves": exact > 0,
                       "same time": shared, "same time curves": shared > 0})
        classes[source_class] += 1
        meta: dict[str, object] = {"source_class": source_class}
        meta.update({k: row[k] for k in ("ra", "dec") if row[k] is not None})
        curve = LightCurve(
            object_id=star,
            time=values[start:end, 0],
            mag=values[start:end, 1],
            err=values[start:end, 2],
            band=BAND,
            label=LABEL_OF_CLASS.get(source_class),
            survey=SURVEY,
            meta=meta,
        )
        report.add(curve)
        yield curve


def _read_batch(
    batch: list[tuple[str, str, bytes]], report: ImportReport
) -> tuple[list[tuple[str, str]], pl.DataFrame]:
    """(star, class) of the members that parse, and all their rows with member index `i`.

    The bodies are joined and parsed by one polars call: per file, polars' call overhead is
    ten times the parsing of a 300-row CSV. If anything in the batch does not parse, the
    members are parsed one by one and the culprits skipped with their reason.
    """
    members: list[tuple[str, str]] = []
    bodies: list[bytes] = []
    for star, source_class, raw in batch:
        head, _, body = raw.lstrip().partition(b"\n")
        header = head.decode("utf-8", "replace").replace('"', "").replace(" ", "").strip()
        if header != ",".join(COLUMNS):
            report.skip(f"star: CSV header is not {HEADER}")
            continue
        body = body.replace(b"\r", b"").strip()
        if not body:
            report.skip("star: no measurements")
            continue
        members.append((star, source_class))
        bodies.append(body + b"\n")
    sizes = [body.count(b"\n") for body in bodies]
    frame = _read_rows(b"".join(bodies), sum(sizes))
    if frame is None:
        frames, parsed = [], []
        for member, body, size in zip(members, bodies, sizes, strict=True):
            one = _read_rows(body, size)
            if one is None:
                report.skip("star: CSV not readable as ID,MJD,mag,magerr,RA,Dec numbers")
                continue
            frames.append(one)
            parsed.append((member, size))
        members, sizes = [m for m, _ in parsed], [n for _, n in parsed]
        frame = pl.concat(frames) if frames else pl.DataFrame(schema=_SCHEMA)
    index = np.repeat(np.arange(len(members)), sizes)
    return members, frame.with_columns(pl.Series("i", index, dtype=pl.Int64))


def _read_rows(body: bytes, n_rows: int) -> pl.DataFrame | None:
    """The rows of `body` (no header) as ID, MJD, mag, magerr, RA, Dec; None if not all parse."""
    if not n_rows:
        return None
    try:
        frame = pl.read_csv(io.BytesIO(body), has_header=False, schema=_SCHEMA)
    except pl.exceptions.PolarsError:
        return None
    return frame if frame.height == n_rows else None
