"""Writing imported curves as a light-curve directory, fast enough for whole survey catalogues.

Same format as `broker_plugin.lightcurve_dir.write_lightcurve_dir` (manifest.csv + one file per
curve, read back by `read_lightcurve_dir`), with two differences that matter for imports:
- a curve that came from an OGLE `.dat` file is stored as those original bytes (the directory
  format reads `.dat` natively), so the stored photometry *is* the survey's file;
- other curves are written by polars (shortest round-trip float text, exact on read-back),
  about 4× faster than `np.savetxt`, and the manifest is sorted by object and band so that the
  output does not depend on the order of members in a tar file.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from broker_plugin.lightcurve import PHYSICAL_PARAMETERS, LightCurve
from broker_plugin.lightcurve_dir import MANIFEST
from training.importers.report import ImporterError

SUBDIR = "lc"
CSV_HEADER = b"time,mag,err\n"
FLUSH_POINTS = 1_000_000  # rows formatted per polars call (~40 MB of text)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def prepare_output(out: Path, overwrite: bool) -> None:
    """Make `out` ready; never mix a new import with an earlier one unless told to replace it."""
    if out.exists() and not out.is_dir():
        raise ImporterError(f"{out}: exists and is not a directory; choose a directory for OUT")
    earlier = [p for p in (out / MANIFEST, out / SUBDIR) if p.exists()]
    if earlier and not overwrite:
        raise ImporterError(
            f"{out}: already holds a light-curve directory ({earlier[0].name}); "
            "pass --overwrite to replace it or choose another OUT"
        )
    if (out / SUBDIR).is_dir():
        shutil.rmtree(out / SUBDIR)
    (out / MANIFEST).unlink(missing_ok=True)
    try:
        (out / SUBDIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImporterError(f"{out}: cannot create the output directory ({exc.strerror})") from exc


class LightCurveDirWriter:
    """Streams curves to `out/lc/` and writes `out/manifest.csv` on `close()`."""

    def __init__(self, out: Path, overwrite: bool = False) -> None:
        self.out = Path(out)
        prepare_output(self.out, overwrite)
        self._rows: list[dict[str, Any]] = []
        self._names: set[str] = set()
        self._pending: list[tuple[Path, LightCurve]] = []
        self._pending_points = 0

    def add(self, curve: LightCurve, original_dat: bytes | None = None) -> None:
        """Write one curve; `original_dat` (an OGLE `.dat` file's bytes) is stored verbatim."""
        stem = _safe(curve.object_id) + (f"_{_safe(curve.band)}" if curve.band else "")
        suffix = ".dat" if original_dat is not None else ".csv"
        name = stem + suffix
        if name in self._names:  # two ids that differ only in unsafe characters
            name = f"{stem}_{len(self._rows)}{suffix}"
        self._names.add(name)
        relative = f"{SUBDIR}/{name}"
        path = self.out / relative
        if original_dat is not None:
            path.write_bytes(original_dat)
        else:
            self._pending.append((path, curve))
            self._pending_points += len(curve)
            if self._pending_points >= FLUSH_POINTS:
                self._flush()
        row: dict[str, Any] = {
            "path": relative,
            "object_id": curve.object_id,
            "label": curve.label,
            "band": curve.band,
            "survey": curve.survey,
        }
        row.update({p: float(curve.params[p]) for p in PHYSICAL_PARAMETERS if p in curve.params})
        row.update(curve.meta)
        self._rows.append(row)

    def close(self, defaults: Mapping[str, Any] | None = None) -> Path:
        """Write the manifest (rows sorted by object id and band) and return its path.

        `defaults` fill columns known only once every curve is read (an OGLE survey phase).
        """
        self._flush()
        for column, value in (defaults or {}).items():
            for row in self._rows:
                if row.get(column) is None:
                    row[column] = value
        rows = sorted(self._rows, key=lambda r: (r["object_id"], r["band"] or ""))
        columns = ["path", "object_id", "label", "band", "survey"]
        params = [p for p in PHYSICAL_PARAMETERS if any(p in r for r in rows)]
        extra: list[str] = []
        for row in rows:
            extra.extend(k for k in row if k not in columns and k not in params
                         and k not in extra)
        data = {c: [r.get(c) for r in rows] for c in (*columns, *params, *extra)}
        schema: dict[str, Any] = {c: pl.Utf8 for c in columns}
        schema.update({p: pl.Float64 for p in params})
        frame = pl.DataFrame(
            {c: pl.Series(c, v, dtype=schema.get(c), strict=False) for c, v in data.items()}
        )
        keep = [c for c in frame.columns if c in ("path", "object_id")
                or frame[c].null_count() < frame.height]
        path = self.out / MANIFEST
        frame.select(keep).write_csv(path)
        return path


    def _flush(self) -> None:
        """Format all pending curves with one polars call, then cut the text per curve.

        One `write_csv` over ~10^6 rows is ~5× faster than one small frame per curve.
        """
        if not self._pending:
            return
        curves = [c for _, c in self._pending]
        text = pl.DataFrame({
            "time": np.concatenate([c.time for c in curves]),
            "mag": np.concatenate([c.mag for c in curves]),
            "err": np.concatenate([c.err for c in curves]),
        }).write_csv(include_header=False).encode()
        # Byte offset where each row starts (plus the end), then where each curve starts.
        line_starts = np.concatenate(
            [[0], np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("\n")) + 1]
        )
        first_rows = np.concatenate([[0], np.cumsum([len(c) for c in curves])])
        offsets = line_starts[first_rows].tolist()
        for i, (path, _) in enumerate(self._pending):
            path.write_bytes(CSV_HEADER + text[offsets[i]:offsets[i + 1]])
        self._pending.clear()
        self._pending_points = 0


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text)[:80]
