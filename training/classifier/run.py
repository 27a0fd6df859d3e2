"""`training train` end to end: data → split → (generator) → train → export → figures.

RUN/ receives: config.yaml (resolved), model.onnx, model_card.json, history.json,
metrics.json (validation, calibrated), training_curves.png, confusion_matrix.png, split.csv (which
object went where), and generator/ when a generator was fitted here. With
`ensemble_members` > 1, every member also gets history_memberK.json and
training_curves_memberK.png, and model.onnx averages the members' probabilities.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.errors import UserError
from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import PHYSICAL_PARAMETERS, LightCurve
from training.classifier.augment import attach_views, augmented_validation
from training.classifier.data import (
    GeneratorSource,
    LabelledFeatures,
    SyntheticSource,
    TrainingDataError,
    classes_in,
    featurise_labelled,
    load_curves,
    stratified_split,
)
from training.config import TrainingConfig

#: Export parity bound (max |Δp|, torch vs onnxruntime) for models with summary statistics.
SUMMARY_PARITY_TOLERANCE = 3e-3


class MissingPhysicalParametersError(UserError, ValueError):
    """Two-losses training asked for, but nothing to fit a generator on."""


def prepare_data(
    curves: Sequence[LightCurve], config: TrainingConfig, settings: FeatureSettings,
    classes: list[str] | None = None, source: str = "data",
) -> tuple[LabelledFeatures, LabelledFeatures]:
    """Featurise and split into (train, validation), stratified and seeded."""
    classes = classes or classes_in(curves)
    if len(classes) < 2:
        raise TrainingDataError(
            f"{source}: found label(s) {classes or 'none'}; a classifier needs at least two "
            "labelled classes in the manifest's 'label' column"
        )
    data = featurise_labelled(curves, classes, settings, config.min_points)
    if len(data) < 4:
        raise TrainingDataError(f"{source}: only {len(data)} usable labelled curves")
    train_index, val_index = stratified_split(data.y, config.validation_fraction, config.seed)
    train, val = data.subset(train_index), data.subset(val_index)
    train.dropped = dict(data.dropped)  # what featurising left out, reported once
    return train, val


def generator_source(
    generator_dir: str | Path | None,
    train_curves: Sequence[LightCurve],
    classes: list[str],
    settings: FeatureSettings,
    config: TrainingConfig,
    run_dir: Path,
    progress: bool,
) -> SyntheticSource:
    """A fitted PELS-VAE as a synthetic source: loaded from GENDIR, or fitted on `train_curves`."""
    with_params = [c for c in train_curves if "period" in c.params]
    if generator_dir is None and not with_params:
        raise MissingPhysicalParametersError(
            "the training data has no physical parameters (manifest column 'period', ideally "
            f"all of {', '.join(PHYSICAL_PARAMETERS)}), so no generator can be fitted; pass "
            "--generator GENDIR or use --mode one-loss"
        )
    from training.generator import PelsGenerator

    if generator_dir is not None:
        generator = PelsGenerator.load(generator_dir)
    else:
        from training.generator.config import GeneratorConfig

        if config.generator_max_per_class:
            with_params = _at_most_per_class(with_params, config.generator_max_per_class,
                                             config.seed)

        gen_config = GeneratorConfig.preset(config.generator_preset, seed=config.seed)
        if config.generator_epochs:
            gen_config = dataclasses.replace(gen_config, epochs=config.generator_epochs)
        device = None if config.device == "auto" else config.device
        generator = PelsGenerator.fit(with_params, config=gen_config, progress=progress,
                                      device=device)
        generator.save(run_dir / "generator")
    if config.cadence_from:  # synthetic curves observed at these surveys' cadences
        from training.cadence_transfer import load_cadence_templates

        generator.templates = load_cadence_templates(config.cadence_from)
    return GeneratorSource(generator, classes, settings, config.n_oversampling)


def load_training_curves(
    data_dirs: str | Path | Sequence[str | Path], max_per_class: int = 0, seed: int = 0
) -> list[LightCurve]:
    """Curves of one or several light-curve directories, concatenated in the given order.

    Several directories are the recipe for a cross-survey model: e.g. simulations with the
    `ogle`, `lsst` and `sparse` cadences side by side, so the Δt distributions of the
    training data cover the surveys the model will meet. `max_per_class` applies per
    directory.
    """
    dirs = [data_dirs] if isinstance(data_dirs, str | Path) else list(data_dirs)
    if not dirs:
        raise TrainingDataError("no --data directory given")
    return [c for d in dirs for c in load_curves(d, max_per_class, seed)]


def train_run(
    data_dir: str | Path | Sequence[str | Path],
    run_dir: str | Path,
    config: TrainingConfig,
    **options: Any,
) -> dict[str, Any]:
    """Run the whole method; returns the validation metrics written to RUN/metrics.json.

    `options` are `train_on_curves`'s (generator_dir, settings, progress, source).
    """
    curves = load_training_curves(data_dir, config.max_curves_per_class, config.seed)
    sources = ([str(data_dir)] if isinstance(data_dir, str | Path)
               else [str(d) for d in data_dir])
    return train_on_curves(curves, sources, run_dir, config, **options)


def train_on_curves(
    curves: Sequence[LightCurve],
    sources: Sequence[str],
    run_dir: str | Path,
    config: TrainingConfig,
    generator_dir: str | Path | None = None,
    settings: FeatureSettings | None = None,
    progress: bool = True,
    source: SyntheticSource | None = None,
) -> dict[str, Any]:
    """`train_run` on curves already in memory (e.g. one fold of a cross-survey benchmark).

    `sources` names where the curves came from, for messages and the model card.
    """
    from training.classifier.calibrate import (
        calibrate_model,
        is_simulated,
        other_class_inputs,
        real_rows,
    )
    from training.classifier.export import export_run, onnx_probabilities
    from training.classifier.metrics import summary
    from training.classifier.outliers import simulated_outliers
    from training.classifier.plots import plot_confusion
    from training.classifier.snr import above_snr
    from training.classifier.trainer import train_classifier

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = settings or config.feature_settings()
    config.save(run_dir)
    sources = list(sources)
    # The signal-to-noise cut (config min_snr) applies to all the training data.
    curves = above_snr(curves, config.min_snr)
    train, val = prepare_data(curves, config, settings, source=", ".join(sources))
    attach_views(train, [curves[i] for i in train.source_index],  # type: ignore[union-attr]
                 config, settings, config.seed)
    _write_split(run_dir / "split.csv", train, val)
    started = time.perf_counter()
    say = _say if progress else (lambda message: None)
    say(f"{len(train)} training / {len(val)} validation curves, classes {train.classes}")
    if config.mode == "two-losses" and source is None:
        train_curves = [curves[i] for i in train.source_index]  # type: ignore[union-attr]
        say("loading the generator" if generator_dir else
            f"fitting the generator on the training split ({len(train_curves)} curves, at most "
            f"{config.generator_max_per_class or 'all'} per class)")
        source = generator_source(generator_dir, train_curves, train.classes, settings,
                                  config, run_dir, progress)
    generator_seconds = time.perf_counter() - started
    say(f"generator ready in {generator_seconds:.0f} s" if source else "one-loss: no generator")

    selection_val = (augmented_validation(val, [curves[i] for i in val.source_index],  # type: ignore[union-attr]
                                          config, settings, config.seed)
                     if config.augment_validation else val)
    results = []
    for member in range(config.ensemble_members):
        if config.ensemble_members > 1:
            say(f"ensemble member {member + 1} of {config.ensemble_members} "
                f"(seed {config.seed + member})")
        member_config = dataclasses.replace(config, seed=config.seed + member)
        results.append(train_classifier(train, selection_val, member_config, source=source,
                                        progress=progress, settings=settings))
    result = results[0]
    _write_histories(run_dir, results, config, f"{len(train)} train / {len(val)} validation")

    training_data = {
        "source": sources[0] if len(sources) == 1 else sources,
        "surveys": sorted({c.survey or "unknown" for c in curves}),
        "augment_copies": config.augment_copies,
        "n_train": len(train),
        "n_validation": len(val),
        "train_class_counts": train.class_counts(),
        "validation_class_counts": val.class_counts(),
        "dropped": train.dropped,
        "mode": config.mode,
    }
    card_metrics = {"best_epoch": result.best_epoch, **result.extra,
                    "epochs_run": len(result.history),
                    "seconds_per_epoch": float(np.mean([r.seconds_per_epoch for r in results])),
                    "synthetic_batches": sum(r.synthetic_batches for r in results),
                    "generator_fit_seconds": generator_seconds, "device": result.device,
                    "ensemble_members": len(results)}
    if len(results) > 1:
        card_metrics["members"] = [_member_summary(r, config.seed + k)
                                   for k, r in enumerate(results)]
    onnx_path, card = export_run(
        [r.model for r in results], run_dir, train.classes, settings, val.batch(),
        name=config.model_name, version=config.resolved_version(data=sources),
        min_points=config.min_points, training_data=training_data,
        metrics=card_metrics, config=config.to_dict(),
        # The in-graph statistics (cumulative sums, sorts) agree with torch to ~1e-5 in
        # float32; through a trained network that reaches ~1e-3 in probability at most.
        tolerance=SUMMARY_PARITY_TOLERANCE if config.summary_features else 1e-4,
    )
    # Temperature and unknown score fitted on the real, never augmented validation curves,
    # with the training split as the unknown score's bank (calibrate.py).
    # The training surveys' catalogued stars of other classes, and simulated stochastic and
    # constant curves at their cadences, are the unknown forest's outliers (unknown_forest.py).
    calibration_set = real_rows(val, curves)
    real = [c for c in curves if not is_simulated(c)] or list(curves)
    others = other_class_inputs(
        [*curves, *simulated_outliers(real, config.synthetic_outliers, config.seed)],
        train.classes, settings, config.min_points)
    card = calibrate_model(run_dir, run_dir, calibration_set, bank=train, seed=config.seed,
                           others=others, shift_temperature=config.shift_temperature,
                           fitted_on={"source": "validation split, real curves"
                                      if len(calibration_set) < len(val) else
                                      "validation split"}, min_curves=4)
    probabilities = onnx_probabilities(onnx_path, val.x)
    metrics = summary(val.y, probabilities, train.classes)
    metrics.update(card_metrics)
    metrics["export_parity_max_abs_diff"] = card.metrics["export_parity_max_abs_diff"]
    card.metrics.update({k: metrics[k] for k in ("macro_f1", "roc_auc_ovo", "roc_auc_ovr",
                                                 "ece", "brier", "nll", "accuracy")})
    card.metrics["evaluated_on"] = "validation split"
    from broker_plugin.model_card import CARD_FILE

    card.save(run_dir / CARD_FILE)  # the card's metrics do not change the ONNX sha256
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_confusion(np.array(metrics["confusion_matrix"]), train.classes,
                   run_dir / "confusion_matrix.png",
                   title=f"validation, {config.mode} (macro F1 {metrics['macro_f1']:.3f})")
    return metrics


def _member_summary(result: Any, seed: int) -> dict[str, Any]:
    return {"seed": seed, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "best_score": result.best_score, "seconds_per_epoch": result.seconds_per_epoch}


def _write_histories(run_dir: Path, results: Sequence[Any], config: TrainingConfig,
                     sizes: str) -> None:
    """history.json and training_curves.png of the first member; the others' alongside."""
    from training.classifier.plots import plot_training_curves

    for k, result in enumerate(results):
        suffix = "" if k == 0 else f"_member{k + 1}"
        (run_dir / f"history{suffix}.json").write_text(json.dumps(result.history, indent=1)
                                                       + "\n")
        member = "" if len(results) == 1 else f", member {k + 1} of {len(results)}"
        plot_training_curves(result.history, run_dir / f"training_curves{suffix}.png",
                             result.best_epoch, title=f"{config.mode}: {sizes}{member}")


def _at_most_per_class(curves: list[LightCurve], limit: int, seed: int) -> list[LightCurve]:
    """A seeded subsample with at most `limit` curves of each label (order kept)."""
    rng = np.random.default_rng(seed)
    labels = np.array([c.label for c in curves])
    keep: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        keep += rng.permutation(members)[:limit].tolist()
    return [curves[i] for i in sorted(keep)]


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).log(message)


def _write_split(path: Path, train: LabelledFeatures, val: LabelledFeatures) -> None:
    rows = ["object_id,label,split"]
    for part, name in ((train, "train"), (val, "validation")):
        rows += [f"{oid},{part.classes[y]},{name}" for oid, y in
                 zip(part.object_ids, part.y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
