"""Cross-survey check: score one trained RUN on every shared real set in one go.

(The leave-one-survey-out science table, which trains per fold, is `bench/loso.py`.)

    python bench/cross_survey.py RUN [RUN ...] [--data ../shared/data] [--workdir DIR]
        [--max-per-class N] [--seed 0] [--json OUT.json]

Imports the shared real sets with the project's importers (`training import ...`'s code) into
a temporary directory (or `--workdir`, reused when it already holds an import), then scores
each RUN with `training evaluate`'s code (onnxruntime on RUN/model.onnx, the card's feature
settings), one row per set and band:

- OGLE-III LMC classical Cepheids, I band (every curve is CEP: recall = accuracy);
- SDSS Stripe 82 RR Lyrae, g, r and i separately (every curve is RRLYR);
- EROS-1 LMC, B_E and R_E separately (RRLYR, CEP, ECL, LPV; macro F1 over the classes that
  occur among true or predicted labels, so predicting DSCT, absent here, costs F1).

Chance level for reference: recall 1/K for a K-class model (0.2 with five classes); macro
F1 of a uniform guess on EROS is about 0.19. The `chanceF1` column is the macro F1 of a
guess that keeps the model's own predicted class mix but ignores the curves (per class
2·p·q/(p + q), p and q the true and predicted shares): a model whose labels carry
information about the stars beats it, one that only learnt a class mix does not. Real data
is read from `--data` and never copied into the project. Not a unit test: never run under
pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SETS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (import folder, bands scored separately)
    "OGLE-III CEP": ("ogle3_cep", ("I",)),
    "SDSS RRLYR": ("sdss_rrlyr", ("g", "r", "i")),
    "EROS-1": ("eros1", ("B_E", "R_E")),
}


def import_all(data: Path, workdir: Path) -> dict[str, Path]:
    """Import each real set once into `workdir` (skipped when already there)."""
    from training.crosssurvey.shared_sets import import_shared

    return import_shared(data, workdir, names=("ogle3_cep", "sdss_rrlyr", "eros1"))


def subsample(curves: list, limit: int, seed: int) -> list:
    """At most `limit` curves per label, seeded (0 = all)."""
    if limit <= 0:
        return curves
    rng = np.random.default_rng(seed)
    labels = np.array([c.label for c in curves])
    keep: list[int] = []
    for label in np.unique(labels):
        keep += rng.permutation(np.flatnonzero(labels == label))[:limit].tolist()
    return [curves[i] for i in sorted(keep)]


def score(run: str, dirs: dict[str, Path], limit: int, seed: int) -> list[dict[str, Any]]:
    """One row per (set, band): n, macro F1, accuracy, ROC, ECE, recall, predicted mix."""
    from training.classifier.data import load_curves
    from training.classifier.evaluate import evaluate_curves

    rows = []
    for name, (folder, bands) in SETS.items():
        curves = load_curves(dirs[folder])
        for band in bands:
            chosen = subsample([c for c in curves if c.band == band], limit, seed)
            r = evaluate_curves(run, chosen)
            confusion = np.array(r["confusion_matrix"])
            predicted = confusion.sum(axis=0)
            rows.append({
                "set": f"{name} ({band})", "n": r["n_curves"], "macro_f1": r["macro_f1"],
                "chance_macro_f1": shuffled_macro_f1(confusion),
                "accuracy": r["accuracy"], "roc_auc_ovo": r["roc_auc_ovo"],
                "roc_auc_ovr": r["roc_auc_ovr"], "ece": r["ece"],
                "recall": {c: v for c, v in r["per_class_recall"].items() if v is not None},
                "predicted": dict(zip(r["classes"], predicted.tolist(), strict=True)),
                "left_out": r["left_out"],
            })
    return rows


def shuffled_macro_f1(confusion: np.ndarray) -> float | None:
    """Macro F1 of predictions with the same class mix drawn independently of the truth.

    None for single-class sets, where recall against 1/K is the comparison that means
    something (there, any guess with the same mix scores the model's own F1).
    """
    total = confusion.sum()
    if total == 0 or np.count_nonzero(confusion.sum(axis=1)) < 2:
        return None
    true_share, predicted_share = confusion.sum(axis=1) / total, confusion.sum(axis=0) / total
    present = (true_share > 0) | (predicted_share > 0)
    p, q = true_share[present], predicted_share[present]
    return float(np.mean(2 * p * q / (p + q)))


def print_table(run: str, rows: list[dict[str, Any]]) -> None:
    def f(value: float | None) -> str:
        return "  null" if value is None else f"{value:6.3f}"

    print(f"\nmodel {run}")
    print(f"{'set':<20} {'n':>5} {'macroF1':>7} {'chanceF1':>8} {'acc':>6} {'ROCovo':>6} "
          f"{'ECE':>6}  recall per true class | predicted mix")
    for r in rows:
        recall = " ".join(f"{c}={v:.2f}" for c, v in r["recall"].items())
        mix = " ".join(f"{c}={n}" for c, n in r["predicted"].items())
        print(f"{r['set']:<20} {r['n']:>5} {f(r['macro_f1']):>7} {f(r['chance_macro_f1']):>8} "
              f"{f(r['accuracy'])} {f(r['roc_auc_ovo'])} {f(r['ece'])}  {recall} | {mix}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (model.onnx + model_card.json)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the imported sets here (reused); default: a temp dir")
    parser.add_argument("--max-per-class", type=int, default=0, help="0 = every curve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"error: {args.data}: shared data folder not found; pass --data DIR")
    with tempfile.TemporaryDirectory(prefix="cross_survey_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        dirs = import_all(args.data, workdir)
        results = {}
        for run in args.runs:
            results[run] = score(run, dirs, args.max_per_class, args.seed)
            print_table(run, results[run])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
