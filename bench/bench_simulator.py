"""Simulator speed and physics figures.

Usage: python bench/bench_simulator.py [--n-per-class 50 2000] [--cadence ogle]
                                       [--recovery 40]
Prints, per size: seconds to simulate in memory, seconds to simulate and write (the
`training simulate` path), curves, points and disk size. With --recovery N: the
Lomb-Scargle period recovery rate per class on N OGLE-like stars per class (first 250 days
of each curve for the short-period classes, the whole curve for LPV), and the fitted
Cepheid period-luminosity slope.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from broker_plugin.lightcurve_dir import LightCurveDirWriter
from training.simulator.cli import STORED_DECIMALS
from training.simulator.simulate import iter_chunks


def run(n_per_class: int, cadence: str, out: Path) -> None:
    start = time.perf_counter()
    n_curves = n_points = 0
    for chunk in iter_chunks(n_per_class, cadence, seed=0):
        n_curves += len(chunk.curves)
        n_points += sum(len(c) for c in chunk.curves)
    in_memory = time.perf_counter() - start
    start = time.perf_counter()
    writer = LightCurveDirWriter(out, decimals=STORED_DECIMALS)
    for chunk in iter_chunks(n_per_class, cadence, seed=0):
        writer.write(chunk.curves)
    writer.close()
    written = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{cadence}: {5 * n_per_class} stars, {n_curves} curves, {n_points / 1e6:.2f} M points: "
          f"simulate {in_memory:.1f} s ({n_curves / in_memory:.0f} curves/s), "
          f"simulate+write {written:.1f} s ({n_curves / written:.0f} curves/s), "
          f"{size / 1e6:.0f} MB")


def recovery(n_per_class: int) -> None:
    """Lomb-Scargle recovery rates and the Leavitt-law slope on simulated OGLE-like curves."""
    import numpy as np

    from training.simulator import simulate_curves
    from training.simulator.periodogram import lomb_scargle_period

    search = {"RRLYR": (0.15, 1.2), "CEP": (0.5, 150.0), "DSCT": (0.015, 0.4),
              "ECL": (0.1, 80.0), "LPV": (40.0, 1500.0)}
    curves = simulate_curves(n_per_class, "ogle", seed=101)
    for label, (low, high) in search.items():
        exact = half = 0
        group = [c.sorted() for c in curves if c.label == label]
        for c in group:
            keep = np.ones(len(c), bool) if label == "LPV" else c.time < c.time[0] + 250
            ratio = lomb_scargle_period(c.time[keep], c.mag[keep], low, high) / c.params["period"]
            tol = 0.1 if label == "LPV" else 0.01
            exact += abs(ratio - 1) < tol
            half += abs(ratio - 0.5) < tol / 2
        print(f"LS recovery {label}: P within {'10' if label == 'LPV' else '1'} %: "
              f"{exact / len(group):.2f}" + (f", P or P/2: {(exact + half) / len(group):.2f}"
                                            if label == "ECL" else "") + f" (n={len(group)})")
    cep = [c for c in simulate_curves(300, "ogle", seed=102, classes=["CEP"])
           if c.meta["subclass"] == "Fundamental"]
    logp = np.log10([c.params["period"] for c in cep])
    abs_i = [np.median(c.mag) - c.meta["distmod"] - 0.59 * c.meta["extinction_v"] for c in cep]
    slope, zero = np.polyfit(logp, abs_i, 1)
    print(f"CEP (F) PL from simulated I photometry: M_I = {zero:.3f} + {slope:.3f} log P "
          f"(n={len(cep)}; input Soszyński et al. 2008: -1.883 - 2.962 log P)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, nargs="+", default=[50, 2000])
    parser.add_argument("--cadence", default="ogle")
    parser.add_argument("--recovery", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.recovery:
        recovery(args.recovery)
    for n in args.n_per_class:
        tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
        try:
            run(n, args.cadence, tmp / "sim")
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
