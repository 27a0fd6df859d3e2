"""A streaming writer of the light-curve directory format, fast enough for 100,000 curves.

Same layout as `broker_plugin.lightcurve_dir.write_lightcurve_dir` (DIR/manifest.csv plus
DIR/lc/<n>_<object_id>_<band>.csv with header `time,mag,err`), but it formats numbers with
fixed precision (time 1e-6 d, mag and err 1e-5 mag: far below any photometric error) in one
C-level string operation per file instead of `np.savetxt`'s Python loop per row, and it
accepts curves chunk by chunk so memory stays bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from broker_plugin.lightcurve import PHYSICAL_PARAMETERS, LightCurve
from broker_plugin.lightcurve_dir import MANIFEST

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class LightCurveDirWriter:
    """Write curves as they come; `close()` writes the manifest."""

    def __init__(self, directory: str | Path, subdir: str = "lc") -> None:
        self.directory = Path(directory)
        self.subdir = subdir
        (self.directory / subdir).mkdir(parents=True, exist_ok=True)
        self.records: list[dict[str, Any]] = []

    def write(self, curves: Iterable[LightCurve]) -> None:
        """Write the photometry files of `curves` and remember their manifest rows."""
        for curve in curves:
            index = len(self.records)
            stem = _UNSAFE.sub("-", curve.object_id)[:80]
            if curve.band:
                stem += "_" + _UNSAFE.sub("-", curve.band)
            relative = f"{self.subdir}/{index:06d}_{stem}.csv"
            (self.directory / relative).write_text(format_photometry(curve))
            record: dict[str, Any] = {
                "path": relative, "object_id": curve.object_id, "label": curve.label,
                "band": curve.band, "survey": curve.survey,
            }
            record.update({p: curve.params.get(p) for p in PHYSICAL_PARAMETERS})
            record.update(dict(curve.meta))
            self.records.append(record)

    def close(self) -> Path:
        """Write DIR/manifest.csv and return its path."""
        frame = pl.DataFrame(self.records, infer_schema_length=None)
        path = self.directory / MANIFEST
        frame.write_csv(path)
        return path


def format_photometry(curve: LightCurve) -> str:
    """CSV text `time,mag,err` with fixed precision."""
    n = len(curve)
    values = [None] * (3 * n)
    values[0::3] = curve.time.tolist()
    values[1::3] = curve.mag.tolist()
    values[2::3] = curve.err.tolist()
    return "time,mag,err\n" + ("%.6f,%.5f,%.5f\n" * n) % tuple(values)
