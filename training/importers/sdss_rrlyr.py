"""SDSS Stripe 82 RR Lyrae (Sesar et al. 2010): five-band light curves of 483 stars.

Input: the folder holding `light-curves.tar.gz` (one CSV per star, `light-curves/<id>.csv`,
header `time,mag,magerr,band`, MJD, the ugriz bands interleaved) and `periods.csv`
(`Num,Type,Per`: star id, RR Lyrae type `ab` or `c`, period in days). The tar is streamed.

Output: one curve per star and band (u, g, r, i, z), label RRLYR, survey `SDSS-S82`,
`period` from periods.csv and the type in a `subclass` column as `RRab` / `RRc` (the names of
`class_priors.yaml` and the Gaia x OGLE tables). Stars absent from periods.csv have no type
and are skipped. Measurements with the catalogue's no-data sentinel (`magerr` = 99.999, with
`mag` ≈ 100 or a faint limit) are dropped and counted: they are not photometry, and a finite
sentinel would pass the featuriser's non-finite filter.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from broker_plugin.lightcurve import LightCurve
from training.importers.output import collect_import, write_import
from training.importers.report import ImporterError, ImportReport
from training.importers.sources import iter_star_members

SURVEY = "SDSS-S82"
BANDS = ("u", "g", "r", "i", "z")
SUBCLASSES = {"ab": "RRab", "c": "RRc"}
ARCHIVE = "light-curves.tar.gz"
PERIODS = "periods.csv"
#: `magerr` at or above this is the catalogue's "no measurement" marker (99.999).
SENTINEL_ERR = 99.0
_SCHEMA = {"time": pl.Float64, "mag": pl.Float64, "magerr": pl.Float64, "band": pl.Utf8}


def import_sdss_rrlyr(
    src: str | Path, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> ImportReport:
    """Convert the SDSS Stripe 82 RR Lyrae folder into the light-curve directory `out`."""
    started = time.perf_counter()
    archive, types, report = _prepare(Path(src))
    return write_import(
        out, _scan(archive, types, report, progress), report, overwrite=overwrite,
        started=started,
    )


def load_sdss_rrlyr(
    src: str | Path, progress: bool = False
) -> tuple[list[LightCurve], ImportReport]:
    """The same curves `import_sdss_rrlyr` writes, in memory, sorted by star id and band."""
    started = time.perf_counter()
    archive, types, report = _prepare(Path(src))
    return collect_import(_scan(archive, types, report, progress), report, started=started)


def read_periods(path: Path) -> dict[str, tuple[str, float]]:
    """(type, period) per star id from periods.csv (`Num,Type,Per`)."""
    try:
        table = pl.read_csv(path, schema_overrides={"Num": pl.Utf8, "Type": pl.Utf8})
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ImporterError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from exc
    absent = [c for c in ("Num", "Type", "Per") if c not in table.columns]
    if absent:
        raise ImporterError(
            f"{path}: missing column(s) {', '.join(absent)}; expected header Num,Type,Per"
        )
    table = table.with_columns(pl.col("Per").cast(pl.Float64, strict=False))
    return {
        str(num).strip(): (str(kind).strip(), per)
        for num, kind, per in table.select("Num", "Type", "Per").iter_rows()
        if num is not None
    }


def _prepare(src: Path) -> tuple[Path, dict[str, tuple[str, float]], ImportReport]:
    if not src.is_dir():
        raise ImporterError(
            f"{src}: not a directory; give the SDSS Stripe 82 RR Lyrae folder holding "
            f"{ARCHIVE} and {PERIODS}"
        )
    for name in (ARCHIVE, PERIODS):
        if not (src / name).is_file():
            raise ImporterError(
                f"{src}: no {name}; give the SDSS Stripe 82 RR Lyrae folder holding "
                f"{ARCHIVE} and {PERIODS}"
            )
    types = read_periods(src / PERIODS)
    return src / ARCHIVE, types, ImportReport(source=src, survey=SURVEY, unit="stars")


def _scan(
    archive: Path, types: dict[str, tuple[str, float]], report: ImportReport, progress: bool
) -> Iterator[LightCurve]:
    seen: set[str] = set()
    in_archive: set[str] = set()
    for member, data in iter_star_members(archive, ".csv", report, progress):
        star = member.stem
        in_archive.add(star)
        if star in seen:
            report.skip("star: duplicate file in the archive")
            continue
        if star not in types:
            report.skip(f"star: not in {PERIODS} (no RR Lyrae type)")
            continue
        kind, period = types[star]
        if kind not in SUBCLASSES:
            report.skip(f"star: type {kind!r} in {PERIODS} is not ab or c")
            continue
        try:
            table = pl.read_csv(io.BytesIO(data), schema_overrides=_SCHEMA)
        except pl.exceptions.PolarsError:
            report.skip("star: CSV not readable as time,mag,magerr,band")
            continue
        if any(c not in table.columns for c in _SCHEMA):
            report.skip("star: CSV header is not time,mag,magerr,band")
            continue
        seen.add(star)
        sentinel = table["magerr"] >= SENTINEL_ERR
        report.drop_points("no-data sentinel (magerr 99.999)", int(sentinel.sum()))
        table = table.filter(~sentinel)
        unknown = ~table["band"].is_in(BANDS)
        report.drop_points("band not one of ugriz", int(unknown.sum()))
        params = {"period": float(period)} if period is not None and period > 0 else {}
        kept = 0
        for band in BANDS:
            rows = table.filter(pl.col("band") == band)
            if not rows.height:
                continue
            curve = LightCurve(
                object_id=star,
                time=rows["time"].to_numpy(),
                mag=rows["mag"].to_numpy(),
                err=rows["magerr"].to_numpy(),
                band=band,
                label="RRLYR",
                survey=SURVEY,
                params=params,
                meta={"subclass": SUBCLASSES[kind]},
            )
            report.add(curve)
            kept += 1
            yield curve
        if not kept:
            report.skip("star: no measurement left in any band")
    subclasses = Counter(types[star][0] for star in seen)
    if subclasses:
        report.notes.append("subclass: " + ", ".join(
            f"{SUBCLASSES[k]} {n:,}" for k, n in sorted(subclasses.items())))
    absent = len(set(types) - in_archive)
    if absent:
        report.notes.append(f"{absent:,} stars of {PERIODS} have no light curve in the archive")
    report.check_imported(
        archive, "no .csv members", "expected one time,mag,magerr,band CSV per star"
    )
