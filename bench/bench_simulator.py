"""Simulator speed: stars per second in memory and written to a light-curve directory.

Usage: python bench/bench_simulator.py [--n-per-class 50 20000] [--cadence ogle] [--keep DIR]
Prints, per size: seconds to simulate in memory, seconds to simulate and write (the
`training simulate` path), curves, points and disk size.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from training.simulator.simulate import iter_chunks
from training.simulator.writer import LightCurveDirWriter


def run(n_per_class: int, cadence: str, out: Path) -> None:
    start = time.perf_counter()
    n_curves = n_points = 0
    for chunk in iter_chunks(n_per_class, cadence, seed=0):
        n_curves += len(chunk.curves)
        n_points += sum(len(c) for c in chunk.curves)
    in_memory = time.perf_counter() - start
    start = time.perf_counter()
    writer = LightCurveDirWriter(out)
    for chunk in iter_chunks(n_per_class, cadence, seed=0):
        writer.write(chunk.curves)
    writer.close()
    written = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{cadence}: {5 * n_per_class} stars, {n_curves} curves, {n_points / 1e6:.2f} M points: "
          f"simulate {in_memory:.1f} s ({n_curves / in_memory:.0f} curves/s), "
          f"simulate+write {written:.1f} s ({n_curves / written:.0f} curves/s), "
          f"{size / 1e6:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, nargs="+", default=[50, 2000])
    parser.add_argument("--cadence", default="ogle")
    args = parser.parse_args()
    for n in args.n_per_class:
        tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
        try:
            run(n, args.cadence, tmp / "sim")
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
