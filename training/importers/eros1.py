"""EROS-1 LMC labelled stars (train split of a public challenge): two photographic bands per star.

Input: the folder holding `train.csv` (one row per star: label column `type`, 1 ECL, 2 CEP,
3 RRLYR, 4 LPV; `period` stored multiplied by `div_period`; `quality` flag) and
`train_varlength_features.csv.gz` (per star, list strings such as `[290.3, 291.35, ...]` in
`time_points_b/r`, `light_points_b/r` (magnitudes), `error_points_b/r`). The two files are
joined on their first (index) column, whatever its header says (`Unnamed: 0` and empty in the
published files).

Output: two curves per star with the same object id, bands `B_E` and `R_E` (EROS blue and red
photographic bands), survey `EROS-1`, `period = period / div_period`, `quality` kept as a
manifest column. Times are days from an arbitrary zero, as published.

The list strings are parsed column-wise by polars (one regex split and one cast per column), not
value by value in Python: ~2 million numbers in well under a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from broker_plugin.lightcurve import LightCurve
from training.importers.output import write_import
from training.importers.report import ImporterError, ImportReport

SURVEY = "EROS-1"
LABELS: dict[int, str] = {1: "ECL", 2: "CEP", 3: "RRLYR", 4: "LPV"}
BANDS: dict[str, str] = {"b": "B_E", "r": "R_E"}
TABLE = "train.csv"
LIGHT_CURVES = ("train_varlength_features.csv.gz", "train_varlength_features.csv")
TABLE_COLUMNS = ("type", "period", "div_period")
_NUMBER = r"[^\s,\[\]]+"  # one list element: anything between brackets, commas and spaces


def import_eros1(
    src: str | Path, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> ImportReport:
    """Convert the EROS-1 train folder into the light-curve directory `out`.

    `progress` is accepted for symmetry with the other importers; the whole import takes a
    couple of seconds, so no bar is shown.
    """
    started = time.perf_counter()
    table, series, report = _read(Path(src))
    return write_import(
        out, _curves(table, series, report), report, overwrite=overwrite, started=started
    )


def load_eros1(src: str | Path) -> tuple[list[LightCurve], ImportReport]:
    """The same curves `import_eros1` writes, in memory, in file order (B_E then R_E per star)."""
    started = time.perf_counter()
    table, series, report = _read(Path(src))
    curves = list(_curves(table, series, report))
    report.seconds = time.perf_counter() - started
    return curves, report


def parse_list_column(
    frame: pl.DataFrame, column: str, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Flat float64 values and per-row lengths of a column of `[v1, v2, ...]` strings."""
    # as text whatever polars inferred: a column of bare numbers is numeric (bench/fuzz.py)
    tokens = frame.get_column(column).cast(pl.Utf8).str.extract_all(_NUMBER)
    lengths = tokens.list.len().fill_null(0).to_numpy().astype(np.int64)
    try:
        values = tokens.explode().drop_nulls().cast(pl.Float64, strict=True).to_numpy()
    except pl.exceptions.PolarsError:
        bad = tokens.explode().drop_nulls()
        bad = bad.filter(bad.cast(pl.Float64, strict=False).is_null())
        raise ImporterError(
            f"{path}: column {column} has a non-numeric list element {bad[0]!r}; "
            "cells must look like [1.5, 2.25, ...]"
        ) from None
    return values, lengths


def _read(src: Path) -> tuple[pl.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]], ImportReport]:
    if not src.is_dir():
        raise ImporterError(
            f"{src}: not a directory; give the EROS-1 folder holding {TABLE} and {LIGHT_CURVES[0]}"
        )
    table_path = src / TABLE
    curves_path = next((src / n for n in LIGHT_CURVES if (src / n).is_file()), None)
    if not table_path.is_file() or curves_path is None:
        missing = TABLE if not table_path.is_file() else LIGHT_CURVES[0]
        raise ImporterError(
            f"{src}: no {missing}; give the EROS-1 folder holding {TABLE} and {LIGHT_CURVES[0]}"
        )
    table = _read_csv(table_path)
    absent = [c for c in TABLE_COLUMNS if c not in table.columns]
    if absent:
        raise ImporterError(
            f"{table_path}: missing column(s) {', '.join(absent)}; expected the EROS-1 "
            f"train.csv with {', '.join(TABLE_COLUMNS)}"
        )
    features = _read_csv(curves_path)
    wanted = [f"{kind}_points_{b}" for b in BANDS for kind in ("time", "light", "error")]
    absent = [c for c in wanted if c not in features.columns]
    if absent:
        raise ImporterError(
            f"{curves_path}: missing column(s) {', '.join(absent)}; expected list-string "
            "columns time_points_b/r, light_points_b/r, error_points_b/r"
        )
    report = ImportReport(source=src, survey=SURVEY, unit="stars")
    report.read = table.height
    key_table, key_curves = table.columns[0], features.columns[0]
    table = table.with_columns(pl.col(key_table).cast(pl.Utf8).alias("_id"))
    # the light curves come from the features file, never from a train.csv column of that name
    table = table.drop([c for c in wanted if c in table.columns and c != key_table])
    features = features.select(pl.col(key_curves).cast(pl.Utf8).alias("_id"), *wanted)
    duplicated = table.height - table["_id"].n_unique()
    if duplicated:
        report.skip("star: duplicate id in train.csv (first row kept)", duplicated)
        table = table.unique("_id", keep="first", maintain_order=True)
    features = features.unique("_id", keep="first", maintain_order=True)
    joined = table.join(features, on="_id", how="left", maintain_order="left")
    unmatched = features.join(table, on="_id", how="anti").height
    if unmatched:
        report.notes.append(f"{unmatched:,} light curves in {curves_path.name} have no row in "
                            f"{TABLE} (no label): not read")
    series = {c: parse_list_column(joined, c, curves_path) for c in wanted}
    return joined, series, report


def _curves(
    table: pl.DataFrame, series: dict[str, tuple[np.ndarray, np.ndarray]], report: ImportReport
) -> Iterator[LightCurve]:
    offsets = {c: np.concatenate([[0], np.cumsum(lengths)]) for c, (_, lengths) in series.items()}
    has_curve = table.get_column(f"time_points_{next(iter(BANDS))}").is_not_null().to_numpy()
    ids = table["_id"].to_list()
    codes = table["type"].cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()
    # a non-numeric period counts as no usable period (bench/fuzz.py: it was a polars error)
    raw_period = table["period"].cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()
    divisor = table["div_period"].cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()
    quality = (table["quality"].cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()
               if "quality" in table.columns else np.full(table.height, np.nan))
    bad_periods = 0
    for row, star in enumerate(ids):
        code = codes[row]
        label = LABELS.get(int(code)) if np.isfinite(code) and code == int(code) else None
        if label is None:
            report.skip(f"star: type {code:g} is not one of {sorted(LABELS)} "
                        "(1 ECL, 2 CEP, 3 RRLYR, 4 LPV)")
            continue
        if not has_curve[row]:
            report.skip(f"star: no light curve in {LIGHT_CURVES[0]}")
            continue
        period = raw_period[row] / divisor[row] if divisor[row] > 0 else np.nan
        params = {"period": float(period)} if np.isfinite(period) and period > 0 else {}
        bad_periods += not params
        meta = {"quality": int(quality[row])} if np.isfinite(quality[row]) else {}
        kept = 0
        for suffix, band in BANDS.items():
            arrays = []
            for kind in ("time", "light", "error"):
                values, lengths = series[f"{kind}_points_{suffix}"]
                start = offsets[f"{kind}_points_{suffix}"][row]
                arrays.append(values[start:start + lengths[row]])
            if len({a.size for a in arrays}) != 1:
                report.skip(f"band {band}: time, light and error lists differ in length")
                continue
            if not arrays[0].size:
                report.skip(f"band {band}: no points")
                continue
            curve = LightCurve(
                object_id=star, time=arrays[0], mag=arrays[1], err=arrays[2], band=band,
                label=label, survey=SURVEY, params=params, meta=meta,
            )
            report.add(curve)
            kept += 1
            yield curve
        if not kept:
            report.skip("star: no usable band (see the band reasons)")
    if bad_periods:
        report.notes.append(f"{bad_periods:,} stars without a usable period or div_period")
    report.check_imported(report.source, f"no star in {TABLE}")


def _read_csv(path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise ImporterError(
            f"{path}: cannot read as CSV ({str(exc).splitlines()[0]}); expected the EROS-1 "
            "challenge files as published"
        ) from exc
