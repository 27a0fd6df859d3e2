"""Reading a light-curve directory of 10,000 curves, against a plain per-row reader.

Run: python bench/bench_lightcurve_dir.py [N_CURVES] [POINTS]
Prints seconds for both readers on the same files, and the ratio (machines are noisy; the
ratio is the figure).
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


def main(n_curves: int = 10_000, points: int = 300) -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        curves = (LightCurve(f"s{i}", np.sort(rng.uniform(0, 3000, points)),
                             rng.normal(16, 0.5, points), np.full(points, 0.02), label="CEP")
                  for i in range(n_curves))
        write_lightcurve_dir(directory, curves)
        start = time.perf_counter()
        ours = read_lightcurve_dir(directory)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        rows = plain_reader(directory)
        t_plain = time.perf_counter() - start
        assert rows == sum(len(c) for c in ours)
    print(f"curves={n_curves} points={points}")
    print(f"read_lightcurve_dir: {t_ours:.2f} s   plain csv loop: {t_plain:.2f} s   "
          f"ratio (plain/ours): {t_plain / t_ours:.1f}x")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
