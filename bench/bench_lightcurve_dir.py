"""Writing and reading a light-curve directory of 10,000 curves, against plain per-row code.

Run: python bench/bench_lightcurve_dir.py [N_CURVES] [POINTS]
Prints seconds for `write_lightcurve_dir` against a per-file `np.savetxt` writer, and for
`read_lightcurve_dir` against a csv-module reader, on the same curves and files, with the
ratios (machines are noisy; the ratios are the figures).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import read_lightcurve_dir, write_lightcurve_dir


def plain_reader(directory: Path) -> int:
    """Baseline: the csv module, a Python loop per row."""
    rows = 0
    with open(directory / "manifest.csv") as handle:
        for record in csv.DictReader(handle):
            with open(directory / record["path"]) as curve:
                reader = csv.reader(curve)
                next(reader)
                rows += sum(1 for row in reader if float(row[0]) == float(row[0]))
    return rows


def plain_writer(directory: Path, curves: list[LightCurve]) -> None:
    """Baseline: one `np.savetxt` per curve (full precision) and a csv-module manifest."""
    (directory / "lc").mkdir(parents=True)
    with open(directory / "manifest.csv", "w", newline="") as handle:
        manifest = csv.writer(handle)
        manifest.writerow(["path", "object_id", "label"])
        for i, curve in enumerate(curves):
            relative = f"lc/{i:06d}.csv"
            table = np.column_stack([curve.time, curve.mag, curve.err])
            np.savetxt(directory / relative, table, delimiter=",", fmt="%.17g",
                       header="time,mag,err", comments="")
            manifest.writerow([relative, curve.object_id, curve.label])


def main(n_curves: int = 10_000, points: int = 300) -> None:
    rng = np.random.default_rng(0)
    curves = [LightCurve(f"s{i}", np.sort(rng.uniform(0, 3000, points)),
                         rng.normal(16, 0.5, points), np.full(points, 0.02), label="CEP")
              for i in range(n_curves)]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ours"
        start = time.perf_counter()
        write_lightcurve_dir(directory, curves)
        t_write = time.perf_counter() - start
        start = time.perf_counter()
        plain_writer(Path(tmp) / "plain", curves)
        t_plain_write = time.perf_counter() - start
        start = time.perf_counter()
        ours = read_lightcurve_dir(directory)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        rows = plain_reader(directory)
        t_plain = time.perf_counter() - start
        assert rows == sum(len(c) for c in ours)
        assert all(np.array_equal(a.mag, b.mag) for a, b in zip(curves, ours, strict=True))
    print(f"curves={n_curves} points={points}")
    print(f"write_lightcurve_dir: {t_write:.2f} s   np.savetxt per file: {t_plain_write:.2f} s   "
          f"ratio (plain/ours): {t_plain_write / t_write:.1f}x")
    print(f"read_lightcurve_dir: {t_ours:.2f} s   plain csv loop: {t_plain:.2f} s   "
          f"ratio (plain/ours): {t_plain / t_ours:.1f}x")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
