"""Where an import writes: one light-curve directory per import, never mixed with another.

`write_import` writes an importer's curves and times its report; `collect_import` is the same
for the `load_*` functions, which keep the curves in memory in the order of the manifest.

The writing itself is the format's one writer, `broker_plugin.lightcurve_dir
.LightCurveDirWriter`; what is specific to imports lives here: OUT is emptied of an earlier
import only with `--overwrite`, and the manifest is sorted by object and band so that the
output does not depend on the order of members in a tar file.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import MANIFEST, LightCurveDirWriter, check_output_dir
from training.importers.report import ImporterError, ImportReport

SUBDIR = "lc"


def open_output(out: str | Path, overwrite: bool = False) -> LightCurveDirWriter:
    """A writer into `out`, made ready by `prepare_output`; use it as a context manager."""
    out = Path(out)
    prepare_output(out, overwrite)
    return LightCurveDirWriter(out, SUBDIR, sort_manifest=True)


def write_import(
    out: str | Path,
    curves: Iterable[LightCurve],
    report: ImportReport,
    *,
    overwrite: bool,
    started: float,
) -> ImportReport:
    """Write `curves` (typically a generator that fills `report` as it goes) into `out`.

    Returns `report` with `out` and the seconds since `started` (a `time.perf_counter()`).
    """
    with open_output(out, overwrite) as writer:
        writer.write(curves)
    report.out = Path(out)
    report.seconds = time.perf_counter() - started
    return report


def collect_import(
    curves: Iterable[LightCurve], report: ImportReport, *, started: float
) -> tuple[list[LightCurve], ImportReport]:
    """`curves` as a list sorted by object id and band (the manifest's order), and `report`
    with the seconds since `started` (a `time.perf_counter()`)."""
    kept = sorted(curves, key=lambda c: (c.object_id, c.band or ""))
    report.seconds = time.perf_counter() - started
    return kept, report


def prepare_output(out: Path, overwrite: bool) -> None:
    """Make `out` ready; never mix a new import with an earlier one unless told to replace it."""
    check_output_dir(out, SUBDIR, overwrite, named=str(out), option="OUT", error=ImporterError)
    if (out / SUBDIR).is_dir():
        shutil.rmtree(out / SUBDIR)
    (out / MANIFEST).unlink(missing_ok=True)
    try:
        (out / SUBDIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImporterError(f"{out}: cannot create the output directory ({exc.strerror})") from exc
