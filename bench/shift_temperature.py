"""The temperature a model needs on a survey it never saw, from leave-one-survey-out folds.

A temperature fitted on the validation split calibrates the model for the surveys it trained
on; on a new survey it is right less often, so the same probabilities are overconfident
(pooled ECE about 0.2 on the folds). Each fold model of `bench/loso.py` scored a survey it
never saw; the temperature that calibrates those predictions, pooled over the folds, is
the factor by which a new survey's uncertainty exceeds the validation split's. The recipe
stores it as `shift_temperature` (training multiplies its fitted temperature by it).

Measured honestly (nested): for each left-out survey, the factor is fitted on the *other*
folds' predictions only, then its ECE is scored on that survey. Beside it, the survey's own
best factor (chosen on its own labels): the lowest ECE any single temperature reaches there.

Usage: python bench/shift_temperature.py --workdir xs --method cnnsumu_all --tag final
           [--truncate 0,100,40,20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.lightcurve import CLASSES  # noqa: E402
from training.classifier.calibration import fit_temperature, temperature_scaled  # noqa: E402
from training.classifier.metrics import expected_calibration_error  # noqa: E402
from training.crosssurvey import loso  # noqa: E402
from training.crosssurvey.shared_sets import import_shared, load_shared  # noqa: E402

#: Folds with fewer left-out curves are scored but too small to report on their own.
MIN_FOLD = 20
#: Factors searched for the survey's own best one (a bound, not a method: it needs labels).
OWN_BEST_GRID = np.exp(np.linspace(np.log(0.5), np.log(8.0), 57))


def own_best_ece(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(factor, ECE) of the factor that minimises this very set's ECE: the lowest ECE any
    single temperature could reach on the survey, which bounds what a shift factor can do."""
    eces = [expected_calibration_error(y, temperature_scaled(p, f)) for f in OWN_BEST_GRID]
    k = int(np.argmin(eces))
    return float(OWN_BEST_GRID[k]), float(eces[k])


def fold_predictions(workdir: Path, method: str, tag: str, data: Path,
                     truncations: list[int]) -> dict[str, dict[int, tuple[np.ndarray,
                                                                         np.ndarray]]]:
    """survey → truncation → (labels, probabilities) from bench/loso.py's prediction cache."""
    curves = load_shared(import_shared(data, workdir / "sets", quiet=True))
    folds = loso.make_folds(curves, None, 400, 300, 0)
    cache = workdir / "predictions" / tag / method
    out: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for fold in folds:
        stored = cache / f"{loso.safe_name(fold.left_out)}.npz"
        if not stored.is_file():
            raise SystemExit(f"error: {stored}: no predictions; run bench/loso.py with "
                             f"--tag {tag} and a method named {method} first")
        saved = np.load(stored)
        y = np.array([CLASSES.index(c.label) for c in fold.test])
        out[fold.left_out] = {n: (y, saved[f"t{n}"]) for n in truncations}
    return out


def pooled(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([y for y, _ in parts]), np.concatenate([p for _, p in parts]))


def nested_table(found: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]],
                 truncations: list[int]) -> dict[str, Any]:
    rows = []
    scored: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
        n: [] for n in truncations}
    for survey, by_n in found.items():
        others = pooled([found[s][n] for s in found if s != survey for n in truncations])
        factor = fit_temperature(others[1], others[0])
        for n in truncations:
            y, p = by_n[n]
            q = temperature_scaled(p, factor)
            scored[n].append((y, p, q))
            if len(y) >= MIN_FOLD:
                best_factor, best_ece = own_best_ece(y, p)
                rows.append({"left_out": survey, "truncate": n, "n": len(y),
                             "factor": round(factor, 3),
                             "ece_before": round(expected_calibration_error(y, p), 4),
                             "ece_after": round(expected_calibration_error(y, q), 4),
                             "own_best_factor": round(best_factor, 3),
                             "ece_own_best": round(best_ece, 4)})
    for n, parts in scored.items():
        y = np.concatenate([a for a, _, _ in parts])
        rows.append({"left_out": "ALL", "truncate": n, "n": len(y),
                     "ece_before": round(expected_calibration_error(
                         y, np.concatenate([b for _, b, _ in parts])), 4),
                     "ece_after": round(expected_calibration_error(
                         y, np.concatenate([c for _, _, c in parts])), 4)})
    every = pooled([by_n[n] for by_n in found.values() for n in truncations])
    return {"factor_all_folds": round(fit_temperature(every[1], every[0]), 3), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--method", default="cnnsumu_all")
    parser.add_argument("--tag", default="final")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--truncate", default="0,100,40,20")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    truncations = [int(t) for t in args.truncate.split(",")]
    result = nested_table(fold_predictions(args.workdir, args.method, args.tag, args.data,
                                           truncations), truncations)
    for row in result["rows"]:
        factor = f"x{row['factor']:.2f}" if "factor" in row else "     "
        best = (f"  (its own best factor x{row['own_best_factor']:.2f}: "
                f"{row['ece_own_best']:.3f})" if "ece_own_best" in row else "")
        print(f"{row['left_out']:10s} {row['truncate']:4d} n={row['n']:5d} {factor} "
              f"ECE {row['ece_before']:.3f} -> {row['ece_after']:.3f}{best}")
    print(f"factor fitted on every fold: {result['factor_all_folds']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()
