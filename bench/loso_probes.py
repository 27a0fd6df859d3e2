"""Three ideas for the cross-survey gap, each measured on bench/loso.py's folds (issue 14).

    python bench/loso_probes.py windows --workdir xs --method cnnsumu_all [--window 100]
    python bench/loso_probes.py adabn --workdir xs [--seed 0]
    python bench/loso_probes.py noise-floor --workdir xs --floor 0.05

`windows`: the fold models `bench/loso.py` left under WORKDIR/runs/METHOD (run it first with
the same --workdir), each long test curve read as consecutive windows of `--window` points
and the windows' probabilities averaged, against the curve read whole (its most recent
pairs). `adabn`: one model per fold (the `cnnsumu_all` recipe), then its BatchNorm
statistics, and optionally the summary statistics' standardisation, re-estimated on the
left-out survey's unlabelled curves (AdaBN, Li et al. 2016), against the same model
unadapted. `noise-floor`: every curve, training and test, given extra Gaussian noise up to a
common floor, so that a survey's photometric quality cannot stand for a class; the feature
forest with transfer, against bench/loso.py's own forest column. Not unit tests.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loso as bench_loso  # noqa: E402

from broker_plugin.features import featurise_batch  # noqa: E402
from broker_plugin.lightcurve import CLASSES, LightCurve  # noqa: E402
from training.crosssurvey import loso  # noqa: E402
from training.crosssurvey.simulated import write_cadences  # noqa: E402
from training.crosssurvey.truncate import truncate_all  # noqa: E402

RECIPE = ["summary_features=true", "pair_filters=false", "num_threads=1"]


def shared_folds(args: argparse.Namespace, transform: Callable[[list[LightCurve]],
                                                              list[LightCurve]] = list,
                 ) -> tuple[list[LightCurve], list[loso.Fold]]:
    """bench/loso.py's curves and folds (same caps and seed), after `transform`."""
    from training.crosssurvey.shared_sets import import_shared, load_shared

    curves = transform(load_shared(import_shared(args.data, args.workdir / "sets")))
    return curves, loso.make_folds(curves, None, args.max_train_per_group,
                                   args.max_test_per_class, 0)


def report(name: str, scored: dict[str, dict[int, list[tuple[np.ndarray, np.ndarray]]]],
           ) -> None:
    """Pooled macro F1 per variant and truncation, from (y, probabilities) per fold."""
    for variant, per_truncation in scored.items():
        cells = []
        for n, parts in per_truncation.items():
            y = np.concatenate([p[0] for p in parts])
            p = np.concatenate([p[1] for p in parts])
            cells.append(f"{n}: {loso.score(y, p, p.argmax(1))['macro_f1']:.3f}")
        print(f"{name} {variant:<12} pooled macro F1  " + "  ".join(cells), flush=True)


def fold_line(fold: str, variant: str, y: np.ndarray, p: np.ndarray) -> None:
    s = loso.score(y, p, p.argmax(1))
    recall = " ".join(f"{c}={v:.2f}" for c, v in s["recall"].items())
    print(f"  {fold:<10} {variant:<12} F1 {s['macro_f1']:.3f}  {recall}", flush=True)


def windows_of(curve: LightCurve, size: int) -> list[LightCurve]:
    """Consecutive, non-overlapping windows of `size` points (time order); the curve itself
    when it is no longer than one window."""
    order = np.argsort(curve.time, kind="stable")
    if len(order) <= size:
        return [curve]
    cut = [order[s:s + size] for s in range(0, len(order) - size + 1, size)]
    return [curve.with_(time=curve.time[i], mag=curve.mag[i],
                        err=None if curve.err is None else curve.err[i]) for i in cut]


def probe_windows(args: argparse.Namespace) -> None:
    from broker_plugin.model_card import load_model_dir
    from training.classifier.export import onnx_probabilities

    _, folds = shared_folds(args)
    scored: dict[str, dict[int, list]] = {"whole": {0: []}, "windows": {0: []}}
    for fold in folds:
        run = args.workdir / "runs" / args.method / loso.safe_name(fold.left_out)
        if not (run / "model.onnx").is_file():
            raise SystemExit(f"error: {run}/model.onnx not found: run bench/loso.py --workdir "
                             f"{args.workdir} --cnn '{args.method}=…' first")
        onnx_path, card = load_model_dir(run)

        def predict(curves: Sequence[LightCurve], onnx_path: Path = onnx_path,
                    card=card) -> np.ndarray:
            x = featurise_batch(curves, card.features).x
            return loso.over_classes(onnx_probabilities(onnx_path, x), card.classes)

        y = np.array([CLASSES.index(c.label) for c in fold.test])
        whole = predict(fold.test)
        pieces = [windows_of(c, args.window) for c in fold.test]
        owner = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])
        summed = np.zeros_like(whole)
        np.add.at(summed, owner, predict([w for p in pieces for w in p]))
        averaged = summed / np.bincount(owner, minlength=len(pieces))[:, None]
        for variant, p in (("whole", whole), ("windows", averaged)):
            scored[variant][0].append((y, p))
            fold_line(fold.left_out, variant, y, p)
    report(f"{args.method}, windows of {args.window}", scored)


def adapted(model, x: np.ndarray, summary: bool):
    """A copy of `model` with BatchNorm statistics (and, with `summary`, the summary
    statistics' standardisation) re-estimated on `x`, labels unused."""
    import torch

    from training.classifier.summary import summary_statistics

    model = copy.deepcopy(model).cpu().eval()
    if summary and model.summary_scaling is not None:
        model.summary_scaling.fit(summary_statistics(x))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over every batch
            module.train()
    with torch.no_grad():
        for start in range(0, len(x), 256):
            model(torch.as_tensor(x[start:start + 256], dtype=torch.float32))
    return model.eval()


def probe_adabn(args: argparse.Namespace) -> None:
    from training.classifier.augment import attach_views
    from training.classifier.run import prepare_data
    from training.classifier.trainer import predict_probabilities, train_classifier
    from training.config import resolve_config

    curves, folds = shared_folds(args)
    cadences = write_cadences(curves, args.workdir)
    truncations = (0, 100, 40, 20)
    variants = ("none", "bn", "bn+summary")
    scored: dict[str, dict[int, list]] = {v: {n: [] for n in truncations} for v in variants}
    for fold in folds:
        if len(fold.test) < args.min_test:
            continue
        config = resolve_config("quick", overrides=[
            "ensemble_members=1", "mode=one-loss", f"seed={args.seed}", *RECIPE,
            "cadence_from=" + ",".join(bench_loso.fold_cadences("@all", fold.left_out,
                                                                cadences))])
        settings = config.feature_settings()
        train, val = prepare_data(list(fold.train), config, settings, source="loso fold")
        attach_views(train, [fold.train[i] for i in train.source_index],  # type: ignore[union-attr]
                     config, settings, config.seed)
        result = train_classifier(train, val, config, progress=False, settings=settings)
        target = [c for c in curves if loso.survey_of(c) == fold.left_out]
        unlabelled = np.concatenate([featurise_batch(truncate_all(target, n), settings).x
                                     for n in truncations])
        y = np.array([CLASSES.index(c.label) for c in fold.test])
        for variant in variants:
            model = (result.model if variant == "none"
                     else adapted(result.model, unlabelled, variant == "bn+summary"))
            for n in truncations:
                x = featurise_batch(truncate_all(fold.test, n), settings).x
                p = loso.over_classes(predict_probabilities(model, x), result.classes)
                scored[variant][n].append((y, p))
                if n == 0:
                    fold_line(fold.left_out, variant, y, p)
    report("AdaBN", scored)


def probe_noise_floor(args: argparse.Namespace) -> None:
    def lifted(curves: list[LightCurve]) -> list[LightCurve]:
        out = []
        for k, c in enumerate(curves):
            err = np.nan_to_num(c.err) if c.err is not None else np.zeros(len(c))
            extra = np.sqrt(np.clip(args.floor**2 - err**2, 0.0, None))
            noise = np.random.default_rng([args.seed, k]).normal(size=len(c)) * extra
            out.append(c.with_(mag=c.mag + noise, err=np.sqrt(err**2 + extra**2)))
        return out

    curves, folds = shared_folds(args, lifted)
    work = args.workdir / f"noise-floor-{args.floor:g}"
    cadences = write_cadences(curves, work)
    method = bench_loso.forest_method(args.seed, "@all", cadences=cadences,
                                      settings=bench_loso.parse_feature_settings("unfiltered"))
    predictions = loso.run_folds(folds, {"forest@all": method}, (), (0, 40), bench_loso.say,
                                 cache=work / "predictions")
    bench_loso.print_rows([r for r in loso.table(predictions)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=("windows", "adabn", "noise-floor"))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=Path("xs"))
    parser.add_argument("--method", default="cnnsumu_all", help="windows: bench/loso.py's name")
    parser.add_argument("--window", type=int, default=100, help="windows: points per window")
    parser.add_argument("--floor", type=float, default=0.05, help="noise-floor: mag")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-test", type=int, default=50,
                        help="adabn: skip folds with fewer test curves (OGLE-IV has 2)")
    parser.add_argument("--max-train-per-group", type=int, default=400)
    parser.add_argument("--max-test-per-class", type=int, default=300)
    args = parser.parse_args()
    {"windows": probe_windows, "adabn": probe_adabn,
     "noise-floor": probe_noise_floor}[args.probe](args)


if __name__ == "__main__":
    main()
