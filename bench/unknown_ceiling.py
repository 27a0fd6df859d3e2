"""How far period-free statistics can tell other classes from our five, at best (issue 15).

The unknown score of the shipped model is a forest on the in-graph summary statistics
(training/classifier/unknown_forest.py). Across surveys it separates type II and anomalous
Cepheids from our classes no better than chance. This asks the in-domain, supervised
question instead, an upper bound for any score built on those statistics: within one
survey's imported set, each catalogued other class is its own class of a forest trained
with those very stars (5-fold cross-validation), scored by 1 − largest in-class
probability. A source class that stays low here cannot reach the issue's floor through a
better score on the same statistics; it needs information they do not carry (a period, a
colour, a distance).

    python bench/unknown_ceiling.py --set xs/sets/crts [--set xs/sets/debosscher]
        [--cap 300] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.features import FeatureSettings  # noqa: E402
from broker_plugin.lightcurve import CLASSES, LightCurve  # noqa: E402
from broker_plugin.lightcurve_dir import read_lightcurve_dir  # noqa: E402
from broker_plugin.model_card import load_model_dir  # noqa: E402
from training.classifier.evaluate import source_class_of  # noqa: E402
from training.crosssurvey.forest import curve_statistics  # noqa: E402

MIN_STARS = 20  # the floor applies to source classes with this many stars


def capped(curves: list[LightCurve], cap: int, seed: int) -> list[LightCurve]:
    """At most `cap` curves of each (survey, source class), drawn at random."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[LightCurve]] = {}
    for curve in curves:
        groups.setdefault((str(curve.survey or ""), source_class_of(curve)),
                          []).append(curve)
    return [group[i] for group in groups.values()
            for i in sorted(rng.permutation(len(group))[:cap])]


def ceiling(curves: list[LightCurve], features: FeatureSettings, seed: int = 0
            ) -> dict[str, object]:
    """Cross-validated AUROC of other-class stars against in-class ones, pooled and per class."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    x = curve_statistics(curves, features)
    source = np.array([source_class_of(c) for c in curves])
    other = np.array([c.label not in CLASSES for c in curves])
    target = np.where(other, "other:" + source, np.array([str(c.label) for c in curves]))
    names, y = np.unique(target, return_inverse=True)
    in_class = np.flatnonzero(~np.char.startswith(names.astype(str), "other:"))
    score = np.zeros(len(curves))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        forest = RandomForestClassifier(300, min_samples_leaf=2, class_weight="balanced_subsample",
                                        random_state=seed, n_jobs=1).fit(x[train], y[train])
        columns = np.flatnonzero(np.isin(forest.classes_, in_class))
        score[test] = 1.0 - forest.predict_proba(x[test])[:, columns].max(axis=1)
    per_class = {}
    for name in sorted(set(source[other])):
        rows = (source == name) & other
        pick = rows | ~other
        per_class[name] = {"stars": int(rows.sum()),
                           "auroc": round(float(roc_auc_score(other[pick], score[pick])), 3)}
    return {"in_class": int((~other).sum()), "other": int(other.sum()),
            "pooled_auroc": round(float(roc_auc_score(other, score)), 3),
            "per_source_class": per_class}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, action="append", required=True,
                        help="an imported light-curve directory (training import …)")
    parser.add_argument("--model", type=Path, default=ROOT / "broker_plugin" / "_model",
                        help="whose feature settings to use")
    parser.add_argument("--cap", type=int, default=300, help="curves per survey and class")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    _, card = load_model_dir(args.model)
    results = {}
    for directory in args.set:
        curves = capped(read_lightcurve_dir(directory), args.cap, seed=0)
        for survey in sorted({str(c.survey or "") for c in curves}):
            subset = [c for c in curves if str(c.survey or "") == survey]
            if all(c.label in CLASSES for c in subset):
                continue
            result = ceiling(subset, card.features)
            results[survey] = result
            print(f"{survey}: {result['other']} other / {result['in_class']} in-class, "
                  f"pooled AUROC {result['pooled_auroc']}")
            for name, row in result["per_source_class"].items():  # type: ignore[union-attr]
                mark = "" if row["stars"] >= MIN_STARS else "  (under the issue's 20)"
                print(f"  {name:36s} {row['stars']:4d}  {row['auroc']:.3f}{mark}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
