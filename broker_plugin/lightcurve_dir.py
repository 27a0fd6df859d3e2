"""The light-curve directory format: `DIR/manifest.csv` plus one photometry file per curve.

manifest.csv columns: `path` (relative to DIR) and `object_id` (required); `label`, `band`,
`survey` and the physical parameters (`period`, `teff`, `feh`, `abs_gmag`, `logg`, `radius`)
optional; any other column is kept in `LightCurve.meta`. A photometry file is a CSV with
header `time,mag,err` (extra columns allowed) or an OGLE-style `.dat` (three or more
whitespace-separated columns `time mag err`, no header).

Each file is parsed by one numpy conversion (no Python loop per row); see
`bench/bench_lightcurve_dir.py` for the speed on 10,000 curves.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from broker_plugin.errors import UserError
from broker_plugin.lightcurve import PHYSICAL_PARAMETERS, LightCurve

MANIFEST = "manifest.csv"
REQUIRED_COLUMNS = ("path", "object_id")
TEXT_COLUMNS = ("label", "band", "survey")
_LETTERS = re.compile(rb"[A-Za-z_]")
_STANDARD_HEADER = re.compile(rb"\s*time\s*,\s*mag\s*,\s*err\s*\r?\n", re.IGNORECASE)


class LightCurveDirError(UserError, ValueError):
    """A light-curve directory that cannot be read; the message names the file and the fix."""


def read_manifest(directory: str | Path) -> pl.DataFrame:
    """The manifest as a DataFrame, checked for the required columns."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise LightCurveDirError(
            f"{directory}: no {MANIFEST} found; a light-curve directory needs a manifest with "
            f"columns {', '.join(REQUIRED_COLUMNS)} (see README, 'Light-curve directories')"
        )
    overrides = {c: pl.Utf8 for c in (*REQUIRED_COLUMNS, *TEXT_COLUMNS)}
    overrides.update({p: pl.Float64 for p in PHYSICAL_PARAMETERS})
    try:
        manifest = pl.read_csv(path, schema_overrides=overrides, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise LightCurveDirError(f"{path}: cannot parse as CSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise LightCurveDirError(
            f"{path}: missing column(s) {missing}; found {manifest.columns}. "
            f"Add them: 'path' is the photometry file relative to the directory."
        )
    if manifest["path"].null_count() or manifest["object_id"].null_count():
        row = manifest.with_row_index().filter(
            pl.col("path").is_null() | pl.col("object_id").is_null()
        )["index"][0]
        raise LightCurveDirError(f"{path}: row {row + 2} has an empty path or object_id")
    return manifest


def read_lightcurve_dir(
    directory: str | Path, labels: Iterable[str] | None = None
) -> list[LightCurve]:
    """All curves of a directory, in manifest order (optionally only some labels)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if labels is not None and "label" in manifest.columns:
        manifest = manifest.filter(pl.col("label").is_in(list(labels)))
    paths = [directory / p for p in manifest["path"].to_list()]
    arrays = read_photometry_files(paths)
    return _curves_from_manifest(manifest, arrays)


def read_photometry_files(paths: Sequence[Path]) -> list[np.ndarray]:
    """(n, 3) arrays of time, mag, err, one per file.

    CSVs with exactly the header `time,mag,err` (what this project writes) are joined in
    memory and parsed by one multi-threaded polars call; anything else (OGLE `.dat`, other
    column orders, text columns) by one numpy conversion per file. Either way there is no
    Python loop per row. Anything odd in the fast path (blank lines, bad values) sends the
    files through the per-file path, whose errors name the culprit.
    """
    raws = [_read_bytes(path) for path in paths]
    standard = [i for i, raw in enumerate(raws) if _STANDARD_HEADER.match(raw)]
    arrays: list[np.ndarray | None] = [None] * len(paths)
    if standard:
        parsed = _parse_standard_csvs([raws[i] for i in standard])
        if parsed is not None:
            for i, array in zip(standard, parsed, strict=True):
                arrays[i] = array
    return [
        array if array is not None else _parse_photometry(path, raw)
        for array, path, raw in zip(arrays, paths, raws, strict=True)
    ]


def _parse_standard_csvs(raws: Sequence[bytes]) -> list[np.ndarray] | None:
    bodies = [raw.partition(b"\n")[2] for raw in raws]
    bodies = [b if not b or b.endswith(b"\n") else b + b"\n" for b in bodies]
    sizes = np.array([b.count(b"\n") for b in bodies])
    schema = {"time": pl.Float64, "mag": pl.Float64, "err": pl.Float64}
    try:
        frame = pl.read_csv(io.BytesIO(b"".join(bodies)), has_header=False, schema=schema)
    except pl.exceptions.PolarsError:
        return None
    if frame.height != int(sizes.sum()):
        return None
    return np.split(frame.to_numpy(), np.cumsum(sizes)[:-1])


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LightCurveDirError(
            f"{path}: cannot read photometry file ({exc.strerror}); "
            "check the manifest's 'path' column"
        ) from exc


def _parse_photometry(path: Path, raw: bytes) -> np.ndarray:
    body, (n_columns, columns) = _split_header(path, raw)
    tokens = body.replace(b",", b" ").split()
    if len(tokens) % n_columns:
        raise LightCurveDirError(
            f"{path}: rows have different numbers of columns; every row needs "
            f"{n_columns} values (time, mag, err first)"
        )
    try:
        numbers = np.array(tokens, dtype=np.float64)
    except ValueError as exc:
        if body is raw.lstrip():  # no header: nothing to select by name
            raise LightCurveDirError(f"{path}: non-numeric value in photometry ({exc})") from exc
        return _read_csv_with_text_columns(path)
    return numbers.reshape(-1, n_columns)[:, list(columns)]


def _read_csv_with_text_columns(path: Path) -> np.ndarray:
    try:
        frame = pl.read_csv(
            path,
            columns=["time", "mag", "err"],
            schema_overrides={"time": pl.Float64, "mag": pl.Float64, "err": pl.Float64},
        )
    except pl.exceptions.PolarsError as exc:
        raise LightCurveDirError(
            f"{path}: non-numeric value in time, mag or err ({str(exc).splitlines()[0]})"
        ) from exc
    return frame.to_numpy()


def _split_header(path: Path, raw: bytes) -> tuple[bytes, tuple[int, tuple[int, int, int]]]:
    raw = raw.lstrip()
    first, _, rest = raw.partition(b"\n")
    if _LETTERS.search(first):
        names = [n.strip().lower() for n in first.decode("utf-8", "replace").split(",")]
        try:
            columns = (names.index("time"), names.index("mag"), names.index("err"))
        except ValueError:
            raise LightCurveDirError(
                f"{path}: header {first.decode(errors='replace').strip()!r} lacks one of "
                "time, mag, err; CSV photometry needs the header 'time,mag,err'"
            ) from None
        return rest, (len(names), columns)
    n_columns = len(first.replace(b",", b" ").split())
    if n_columns < 3:
        raise LightCurveDirError(
            f"{path}: first row has {n_columns} column(s); photometry needs time, mag, err"
        )
    return raw, (n_columns, (0, 1, 2))


def _curves_from_manifest(manifest: pl.DataFrame, arrays: list[np.ndarray]) -> list[LightCurve]:
    params = [p for p in PHYSICAL_PARAMETERS if p in manifest.columns]
    extra = [c for c in manifest.columns if c not in (*REQUIRED_COLUMNS, *TEXT_COLUMNS, *params)]
    rows = manifest.to_dicts()
    curves = []
    for row, data in zip(rows, arrays, strict=True):
        curves.append(
            LightCurve(
                object_id=row["object_id"],
                time=data[:, 0],
                mag=data[:, 1],
                err=data[:, 2],
                band=row.get("band"),
                label=row.get("label"),
                survey=row.get("survey"),
                params={p: row[p] for p in params if row[p] is not None and not math.isnan(row[p])},
                meta={c: row[c] for c in extra if row[c] is not None},
            )
        )
    return curves


def write_lightcurve_dir(
    directory: str | Path, curves: Iterable[LightCurve], subdir: str = "lc"
) -> Path:
    """Write curves as `DIR/<subdir>/<n>_<object_id>[_<band>].csv` plus `DIR/manifest.csv`."""
    directory = Path(directory)
    (directory / subdir).mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for index, curve in enumerate(curves):
        stem = _safe_name(curve.object_id) + (f"_{_safe_name(curve.band)}" if curve.band else "")
        relative = f"{subdir}/{index:06d}_{stem}.csv"
        write_photometry_csv(directory / relative, curve)
        record: dict[str, Any] = {
            "path": relative,
            "object_id": curve.object_id,
            "label": curve.label,
            "band": curve.band,
            "survey": curve.survey,
        }
        record.update({p: curve.params.get(p) for p in PHYSICAL_PARAMETERS})
        record.update(dict(curve.meta))
        records.append(record)
    frame = (
        pl.DataFrame(records, infer_schema_length=None)
        if records
        else pl.DataFrame(schema={"path": pl.Utf8, "object_id": pl.Utf8})
    )
    frame = frame.select(
        [c for c in frame.columns if frame[c].null_count() < frame.height or c in REQUIRED_COLUMNS]
    )
    frame.write_csv(directory / MANIFEST)
    return directory / MANIFEST


def write_photometry_csv(path: Path, curve: LightCurve) -> None:
    """One curve as CSV `time,mag,err` (full float precision, round-trips exactly)."""
    table = np.column_stack([curve.time, curve.mag, curve.err])
    with open(path, "w") as handle:
        handle.write("time,mag,err\n")
        np.savetxt(handle, table, delimiter=",", fmt="%.17g")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:80]
