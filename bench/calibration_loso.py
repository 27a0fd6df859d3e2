"""Calibration and the unknown flag on the leave-one-survey-out folds (issue: calibration).

For each fold model that `bench/loso.py` trained (WORKDIR/runs/METHOD/<survey>/), this
fits the calibrated tail exactly as `training train` now does (temperature on the real
validation rows of its split.csv, the unknown score's bank from its training rows), then
scores the survey it never saw:

* ECE (15 bins), Brier, NLL before and after, on every left-out labelled curve;
* the same after `training calibrate` on CAL labelled curves of the left-out survey (seeded,
  evenly over the classes it has), scored on the rest of that survey;
* unknown AUROC of the left-out survey's other-class stars (importers keep them unlabelled,
  with `source_class`) against its in-class stars, the share flagged at the card's
  threshold, per survey and per source class;
* all of it pooled over every left-out curve.

Usage: python bench/calibration_loso.py --workdir WORKDIR [--method cnnsum_all]
       [--sim-at-surveys N] [--calibrate-with 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.lightcurve import CLASSES, LightCurve  # noqa: E402
from broker_plugin.model_card import load_model_dir  # noqa: E402
from broker_plugin.model_inputs import classifiable  # noqa: E402
from broker_plugin.serving.classifier import Classifier  # noqa: E402
from training.classifier.calibrate import (  # noqa: E402
    calibrate_on_curves,
    is_simulated,
    network_outputs,
    split_of_run,
)
from training.classifier.data import featurise_labelled, load_curves  # noqa: E402
from training.classifier.evaluate import source_class_of  # noqa: E402
from training.classifier.metrics import summary, unknown_detection  # noqa: E402
from training.classifier.outliers import simulated_outliers  # noqa: E402
from training.crosssurvey.loso import cap_per_group, survey_of  # noqa: E402
from training.crosssurvey.shared_sets import SET_NAMES  # noqa: E402
from training.crosssurvey.simulated import simulated_at_surveys, write_cadences  # noqa: E402


def probabilities_and_scores(model_dir: Path, curves: list[LightCurve]):
    """(labels, calibrated p, raw p, unknown scores) of the model on labelled curves."""
    import onnx

    classifier = Classifier(model_dir)
    card = classifier.card
    data = featurise_labelled(curves, card.classes, card.features, card.min_points)
    p, scores = classifier.predict_scored(data.x)
    raw, _ = network_outputs(onnx.load(str(model_dir / "model.onnx")), data.x)
    return data.y, p, raw, scores


def other_scores(model_dir: Path, curves: list[LightCurve]) -> tuple[np.ndarray, list[str]]:
    from broker_plugin.features import featurise_batch

    classifier = Classifier(model_dir)
    card = classifier.card
    batch = featurise_batch(curves, card.features)
    usable = classifiable(batch.lengths, card.min_points)
    _, scores = classifier.predict_scored(batch.x[usable])
    return scores, [source_class_of(c) for c, u in zip(curves, usable, strict=True) if u]


def figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    s = summary(y, p, list(CLASSES))
    return {k: round(float(s[k]), 4) for k in ("ece", "brier", "nll", "macro_f1")}


def shifted(run: Path, val: list[LightCurve], seed: int):
    """Validation rows plus their survey-augmented and cadence-transferred views."""
    from training.classifier.augment import attach_views
    from training.config import TrainingConfig, load_config_file

    _, card = load_model_dir(run)
    config = TrainingConfig().with_overrides(load_config_file(run / "config.yaml"))
    data = featurise_labelled(val, card.classes, card.features, card.min_points)
    rows = [val[i] for i in data.source_index]
    attach_views(data, rows, config, card.features, seed + 1)
    if data.views is None:
        return data
    k = data.views.shape[0]
    data.x = np.concatenate([data.x, *data.views])
    data.lengths = np.concatenate([data.lengths, *data.view_lengths])
    data.y = np.tile(data.y, k + 1)
    data.object_ids = np.tile(data.object_ids, k + 1)
    data.source_index = None
    data.views = data.view_lengths = None
    return data


def fold(run: Path, survey: str, curves: list[LightCurve], out: Path, n_cal: int,
         seed: int, shift: bool, unknown_score: str = "auto", outliers: int = 0,
         simulated: Sequence[LightCurve] = ()) -> dict[str, Any]:
    """One fold; `simulated` are the simulated stars the fold model trained beside the real
    ones (bench/loso.py's --sim-at-surveys): with them the unknown score's bank is the
    model's whole training split, as `training train` builds it."""
    from training.classifier.calibrate import calibrate_model

    train_pool = [c for c in curves if survey_of(c) != survey and c.label in CLASSES]
    bank, val = split_of_run(run, [*train_pool, *simulated])
    val = [c for c in val if not is_simulated(c)]
    calibrated = out / "calibrated"
    if shift:
        _, card0 = load_model_dir(run)
        bank_data = featurise_labelled(bank, card0.classes, card0.features, card0.min_points)
        card = calibrate_model(run, calibrated, shifted(run, val, seed), bank_data,
                               seed=seed, fitted_on={"source": "shifted validation"})
    else:
        card = calibrate_on_curves(run, calibrated, val, f"{run} validation rows",
                                   bank_curves=bank, seed=seed, unknown_score=unknown_score,
                                   other_curves=[*(c for c in curves if survey_of(c) != survey
                                                   and not c.label),
                                                 *simulated_outliers(train_pool, outliers, seed)])
    test = [c for c in curves if survey_of(c) == survey and c.label in CLASSES]
    others = [c for c in curves if survey_of(c) == survey and not c.label]
    y, p, raw, scores = probabilities_and_scores(calibrated, test)
    result: dict[str, Any] = {
        "survey": survey, "n_test": len(y), "temperature": card.calibration["temperature"],
        "validation": {"before": card.calibration["before"], "after": card.calibration["after"]},
        "before": figures(y, raw), "after": figures(y, p),
    }
    # An operator's first step on a new survey: calibrate on a few of its labelled curves.
    per_class = max(n_cal // len({c.label for c in test}), 1)
    few = cap_per_group(test, per_class, seed, key=lambda c: (c.label,))
    chosen = {id(c) for c in few}
    rest = [c for c in test if id(c) not in chosen]
    if len(few) >= 20 and rest:
        target = calibrate_on_curves(calibrated, out / "target", few, f"{n_cal} {survey}",
                                     seed=seed)
        y_rest, p_rest, _, _ = probabilities_and_scores(out / "target", rest)
        _, p_source, _, _ = probabilities_and_scores(calibrated, rest)
        result["target_calibrated"] = {"n_fit": len(few), "n_test": len(y_rest),
                                       "temperature": target.calibration["temperature"],
                                       "before": figures(y_rest, p_source),
                                       "after": figures(y_rest, p_rest)}
    if others and scores is not None:
        other, source = other_scores(calibrated, others)
        source_arr = np.array(source, dtype=object)
        groups = {"source_class": {s: source_arr == s for s in np.unique(source_arr)}}
        result["unknown"] = unknown_detection(scores, other, card.unknown_threshold, groups)
        result["_other"] = other.tolist()
        result["_source"] = source
    result["_in"] = scores.tolist() if scores is not None else []
    result["_y"], result["_p"] = y.tolist(), p.tolist()
    result["_raw"] = raw.tolist()
    return result


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    y = np.concatenate([r["_y"] for r in results])
    p = np.concatenate([r["_p"] for r in results])
    raw = np.concatenate([r["_raw"] for r in results])
    out: dict[str, Any] = {"n": len(y), "before": figures(y, raw), "after": figures(y, p)}
    with_others = [r for r in results if "_other" in r]
    if with_others:
        source = np.array([s for r in with_others for s in r["_source"]], dtype=object)
        threshold = None
        out["unknown"] = unknown_detection(
            np.concatenate([r["_in"] for r in with_others]),
            np.concatenate([r["_other"] for r in with_others]), threshold,
            {"source_class": {s: source == s for s in np.unique(source)}})
        out["unknown"]["in_class_flagged"] = float(np.mean(np.concatenate(
            [np.asarray(r["_in"]) > r["unknown"]["threshold"] for r in with_others])))
        out["unknown"]["other_flagged"] = float(np.mean(np.concatenate(
            [np.asarray(r["_other"]) > r["unknown"]["threshold"] for r in with_others])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--method", default="cnnsum_all")
    parser.add_argument("--calibrate-with", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--unknown-score", default="auto", choices=["auto", "forest", "knn"],
                        help="the tail's unknown score (auto: the forest where the model has "
                             "summary statistics)")
    parser.add_argument("--synthetic-outliers", type=int, default=2000,
                        help="simulated outliers (DRW, multi-periodic, spotted, constant) at "
                             "the training curves' cadences shown to the unknown forest (the "
                             "recipe's synthetic_outliers)")
    parser.add_argument("--sim-at-surveys", type=int, default=0,
                        help="the N of the bench/loso.py run that trained the fold models: "
                             "its simulated training stars join the unknown score's bank")
    parser.add_argument("--shifted", action="store_true",
                        help="fit the temperature on the validation rows plus their "
                             "augmented and cadence-transferred views")
    args = parser.parse_args()
    curves = [c for name in SET_NAMES if (args.workdir / "sets" / name).is_dir()
              for c in load_curves(args.workdir / "sets" / name)]
    runs = sorted((args.workdir / "runs" / args.method).iterdir())
    simulated = simulated_at_surveys(args.sim_at_surveys,
                                     write_cadences(curves, args.workdir),
                                     args.seed) if args.sim_at_surveys > 0 else []
    results = []
    for run in runs:
        if not (run / "split.csv").is_file():
            continue
        survey = run.name
        n_test = sum(1 for c in curves if survey_of(c) == survey and c.label in CLASSES)
        if n_test < 20:
            print(f"{survey}: {n_test} labelled curves, skipped", file=sys.stderr)
            continue
        tag = (f"{'shifted' if args.shifted else 'validation'}-{args.unknown_score}"
               f"-{args.synthetic_outliers}-sim{args.sim_at_surveys}")
        r = fold(run, survey, curves, args.workdir / "calibration" / args.method / tag / survey,
                 args.calibrate_with, args.seed, args.shifted, args.unknown_score,
                 args.synthetic_outliers, simulated)
        results.append(r)
        tc = r.get("target_calibrated", {})
        print(f"{survey:10s} n={r['n_test']:5d} T={r['temperature']:.2f} ECE "
              f"{r['before']['ece']:.3f}->{r['after']['ece']:.3f}  target-cal "
              f"{tc.get('after', {}).get('ece', float('nan')):.3f}  unknown AUROC "
              f"{r.get('unknown', {}).get('auroc')}", file=sys.stderr, flush=True)
    table = {"folds": [{k: v for k, v in r.items() if not k.startswith("_")}
                       for r in results], "pooled": pooled(results),
             "command": " ".join(sys.argv)}
    print(json.dumps(table["pooled"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
