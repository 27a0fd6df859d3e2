"""Leave-one-survey-out science table over the shared real sets (training/crosssurvey/loso.py).

    python bench/loso.py [--data ../shared/data] [--workdir xs] [--surveys CRTS,EROS-1]
        [--cnn "NAME=key=value;key=value" ...] [--forest-transfer @others|@all]
        [--forest-features unfiltered] [--no-forest] [--no-cnn] [--sim-per-class N]
        [--sim-at-surveys N] [--tag NAME]
        [--max-train-per-group 400] [--max-test-per-class 300] [--truncate 0,100,40,20]
        [--write-selection SEL.csv] [--upsilon PREDS.csv] [--json OUT.json]
        [--blend "NAME=method[:weight],method[:weight]" ...]

Imports every shared set once into WORKDIR (`training import`'s code), then for each survey
trains each method on the other surveys (plus `--sim-per-class` simulated stars per class
and cadence: ogle, lsst, sparse) and scores it on the left-out survey at every truncation.
Methods: the period-free feature forest (`forest`) and any number of CNN recipes
(`--cnn "NAME=k=v;k=v"`: `training train --preset quick`, a single one-loss model, plus the
overrides; `cadence_from=@others|@all|@target` picks cadence templates per fold, see
`fold_cadences`). `--write-selection` writes
the test curves as a light-curve directory and a selection CSV for `bench/peer_upsilon.py`;
`--blend` adds a weighted mean of methods' probabilities (seeds as an ensemble, the CNN
beside the forest) as one more column, from the cached predictions;
`--upsilon PREDS.csv` adds that script's predictions as a column. Not a unit test.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker_plugin.features import FeatureSettings, featurise_batch  # noqa: E402
from broker_plugin.lightcurve import CLASSES, LightCurve  # noqa: E402
from training.crosssurvey import loso  # noqa: E402
from training.crosssurvey.simulated import (  # noqa: E402
    simulated,
    simulated_at_surveys,
    write_cadences,
)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def forest_method(seed: int, transfer: str = "", copies: int = 2,
                  cadences: dict[str, Path] | None = None,
                  settings: FeatureSettings | None = None) -> loso.Method:
    """The feature forest; with `transfer` (@others/@all) also on re-observed training curves."""
    from training.crosssurvey.forest import FeatureForest

    def fit(train: Sequence[LightCurve], fold: str) -> loso.Predictor:
        curves = list(train)
        if transfer:
            from training.cadence_transfer import transfer_views

            dirs = fold_cadences(transfer, fold, cadences or {})
            for view in transfer_views(curves, dirs, copies, seed):
                curves += [v for v in view if v is not None]
        return FeatureForest(CLASSES, settings, seed=seed, n_jobs=2).fit(curves).predict_proba

    return fit


def parse_feature_settings(spec: str) -> FeatureSettings:
    """'unfiltered;merge_within=0.05' → FeatureSettings (defaults for what is not named)."""
    values: dict[str, object] = FeatureSettings().to_dict()
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        if item == "unfiltered":
            values.update(FeatureSettings.unfiltered().to_dict(), length=values["length"])
            continue
        key, _, raw = item.partition("=")
        values[key] = None if raw.lower() == "none" else (int(raw) if key == "length"
                                                          else float(raw))
    return FeatureSettings.from_dict(values)


def fold_cadences(spec: str, fold: str, cadences: dict[str, Path]) -> list[str]:
    """Cadence-template directories for a fold: @others (every survey but the left-out
    one: zero-shot), @all (also the left-out survey's own epochs and errors, no labels:
    what `broker-plugin capture` gives an operator of the new stream), @target (only it)."""
    choice = {"@others": [s for s in cadences if s != fold], "@all": list(cadences),
              "@target": [fold]}
    if spec not in choice:
        raise SystemExit(f"error: cadence_from={spec!r}: use @others, @all or @target")
    return [str(cadences[s]) for s in choice[spec] if s in cadences]


def cnn_method(name: str, overrides: list[str], workdir: Path,
               cadences: dict[str, Path]) -> loso.Method:
    from broker_plugin.model_card import load_model_dir
    from training.classifier.export import onnx_probabilities
    from training.classifier.run import train_on_curves
    from training.config import resolve_config

    base = ["ensemble_members=1", "mode=one-loss"]

    def fit(train: Sequence[LightCurve], fold: str) -> loso.Predictor:
        resolved = [f"cadence_from={','.join(fold_cadences(o.partition('=')[2], fold, cadences))}"
                    if o.startswith("cadence_from=@") else o for o in overrides]
        config = resolve_config("quick", overrides=[*base, *resolved])
        run = workdir / "runs" / name / loso.safe_name(fold)
        train_on_curves(train, [f"shared sets without {fold}"], run, config, progress=False)
        onnx_path, card = load_model_dir(run)

        def predict(curves: Sequence[LightCurve]) -> np.ndarray:
            p = onnx_probabilities(onnx_path, featurise_batch(curves, card.features).x)
            return loso.over_classes(p, card.classes)

        return predict

    return fit


def write_selection(folds: Sequence[loso.Fold], workdir: Path, path: Path) -> None:
    """Test curves as a light-curve directory, and `set,dir,path,object_id,band,label` rows."""
    from broker_plugin.lightcurve_dir import LightCurveDirWriter

    target = workdir / "selection"
    rows = []
    with LightCurveDirWriter(target, "lc") as writer:
        for fold in folds:
            for curve in fold.test:
                rel = writer.add(curve.with_(meta={}))
                rows.append([fold.left_out, str(target), rel, curve.object_id,
                             curve.band or "", curve.label])
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["set", "dir", "path", "object_id", "band", "label"])
        out.writerows(rows)


def upsilon_predictions(path: Path, folds: Sequence[loso.Fold],
                        truncations: Sequence[int]) -> list[loso.Predictions]:
    """bench/peer_upsilon.py's PREDS.csv as Predictions over the same folds."""
    with path.open() as handle:
        found = {(r["set"], r["object_id"], r["band"], int(r["truncate"])): r["predicted"]
                 for r in csv.DictReader(handle)}
    out = []
    for fold in folds:
        for n in truncations:
            keys = [(fold.left_out, c.object_id, c.band or "", n) for c in fold.test]
            have = [k in found for k in keys]
            if not any(have):
                continue
            test = [c for c, h in zip(fold.test, have, strict=True) if h]
            y = np.array([CLASSES.index(c.label) for c in test])
            pred = np.array([CLASSES.index(found[k]) if found[k] in CLASSES else len(CLASSES)
                             for k, h in zip(keys, have, strict=True) if h])
            out.append(loso.Predictions("upsilon", fold.left_out, n, y, None, pred,
                                        [(c.object_id, c.band) for c in test]))
    return out


def same_curves(predictions: Sequence[loso.Predictions],
                peer: Sequence[loso.Predictions]) -> list[loso.Predictions]:
    """Every method's predictions cut to the curves the peer scored (rows `METHOD|peer`),
    so the side-by-side columns are measured on exactly the same curves."""
    scored = {(p.left_out, p.truncate): set(p.ids) for p in peer}
    out = []
    for p in predictions:
        keep = scored.get((p.left_out, p.truncate))
        if not keep:
            continue
        mask = np.array([i in keep for i in p.ids])
        out.append(loso.Predictions(
            f"{p.method}|ups", p.left_out, p.truncate, p.y_true[mask],
            None if p.probabilities is None else p.probabilities[mask], p.predicted[mask],
            [i for i, m in zip(p.ids, mask, strict=True) if m]))
    return out


def print_rows(rows: list[dict[str, Any]]) -> None:
    def f(v: Any) -> str:
        return "  -  " if v is None else f"{v:5.3f}"

    print(f"{'method':<14} {'left out':<12} {'trunc':>5} {'n':>5} {'F1':>5} {'ROC':>5}  "
          "recall | predicted")
    for r in sorted(rows, key=lambda r: (r["left_out"] == "ALL", r["left_out"], r["truncate"],
                                         r["method"])):
        recall = " ".join(f"{c}={v:.2f}" for c, v in r["recall"].items())
        mix = " ".join(f"{c}={n}" for c, n in r["predicted"].items())
        print(f"{r['method']:<14} {r['left_out']:<12} {r['truncate']:>5} {r['n']:>5} "
              f"{f(r['macro_f1'])} {f(r['roc_auc_ovo'])}  {recall} | {mix}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=Path("xs"))
    parser.add_argument("--surveys", default="", help="comma-separated; default: all")
    parser.add_argument("--cnn", action="append", default=[],
                        help="NAME=key=value,key=value (repeatable)")
    parser.add_argument("--no-forest", action="store_true")
    parser.add_argument("--no-cnn", action="store_true", help="the forest (and peers) only")
    parser.add_argument("--forest-features", default="",
                        help="the forests' feature settings: 'unfiltered' (no pair filters) "
                             "and/or key=value;… (FeatureSettings fields, 'none' for null)")
    parser.add_argument("--forest-transfer", default="",
                        help="also a forest trained with re-observed views: @others or @all")
    parser.add_argument("--sim-per-class", type=int, default=0)
    parser.add_argument("--sim-at-surveys", type=int, default=0,
                        help="also this many simulated stars per class at each survey's "
                             "cadence (its epochs, bands and errors; @all)")
    parser.add_argument("--max-train-per-group", type=int, default=400)
    parser.add_argument("--max-test-per-class", type=int, default=300)
    parser.add_argument("--truncate", default="0,100,40,20")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="default",
                        help="name of the prediction cache under WORKDIR/predictions (reused)")
    parser.add_argument("--write-selection", type=Path, default=None)
    parser.add_argument("--upsilon", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--blend", action="append", default=[],
                        help="NAME=method[:weight],method[:weight] (repeatable)")
    args = parser.parse_args()
    from training.crosssurvey.shared_sets import import_shared, load_shared

    args.workdir.mkdir(parents=True, exist_ok=True)
    curves = load_shared(import_shared(args.data, args.workdir / "sets"))
    truncations = [int(t) for t in args.truncate.split(",")]
    surveys = [s for s in args.surveys.split(",") if s] or None
    folds = loso.make_folds(curves, surveys, args.max_train_per_group,
                            args.max_test_per_class, args.seed)
    for fold in folds:
        say(f"fold {fold.left_out}: train {len(fold.train)} real curves, test {len(fold.test)}")
    if args.write_selection:
        write_selection(folds, args.workdir, args.write_selection)
        say(f"wrote {args.write_selection}")
    cadences = write_cadences(curves, args.workdir)
    methods: dict[str, loso.Method] = {}
    forest_settings = parse_feature_settings(args.forest_features)
    suffix = f"_{loso.safe_name(args.forest_features)}" if args.forest_features else ""
    if not args.no_forest:
        methods[f"forest{suffix}"] = forest_method(args.seed, settings=forest_settings)
    if args.forest_transfer:
        methods[f"forest{args.forest_transfer}{suffix}"] = forest_method(
            args.seed, args.forest_transfer, cadences=cadences, settings=forest_settings)
    for spec in [] if args.no_cnn else args.cnn or ["cnn="]:
        name, _, overrides = spec.partition("=")
        methods[name] = cnn_method(name, [o for o in overrides.split(";") if o], args.workdir,
                                   cadences)
    extra = [*simulated(args.sim_per_class, args.seed),
             *simulated_at_surveys(args.sim_at_surveys, cadences, args.seed)]
    if extra:
        say(f"{len(extra)} simulated curves beside the real ones in every fold")
    predictions = loso.run_folds(folds, methods, extra, truncations, say,
                                 cache=args.workdir / "predictions" / args.tag)
    for spec in args.blend:
        name, _, members = spec.partition("=")
        parts = {m.partition(":")[0]: float(m.partition(":")[2] or 1)
                 for m in members.split(",") if m}
        missing = sorted(set(parts) - set(methods))
        if missing:
            raise SystemExit(f"error: --blend {spec!r}: no method {', '.join(missing)} in "
                             "this run (name it with --cnn or the forest options)")
        predictions += loso.blend(predictions, name, parts)
    if args.upsilon:
        peer = upsilon_predictions(args.upsilon, folds, truncations)
        predictions = [*predictions, *same_curves(predictions, peer), *peer]
    rows = loso.table(predictions)
    print_rows(rows)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
