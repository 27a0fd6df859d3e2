"""Commands of training.classifier: `train`, `evaluate`, `calibrate`, `experiment`, `tune`,
`report` (the last two live in tune.py and report.py).

Heavy imports (torch, sklearn, matplotlib) happen inside the commands so `training --help`
stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from training.config import DEVICE_HELP, with_device


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("calibrate")(calibrate)
    app.command("experiment")(experiment)
    from training.classifier.report import report_command
    from training.classifier.tune import tune_command

    app.command("tune")(tune_command)
    app.command("report")(report_command)


def train(
    data: list[Path] = typer.Option(
        ..., "--data", help="Light-curve directory with labels; repeat it to train on several "
        "(e.g. ogle, lsst and sparse simulations for a cross-survey model)."),
    out: Path = typer.Option(..., "--out", help="Run directory to write (RUN)."),
    generator: Path | None = typer.Option(
        None, "--generator", help="Fitted generator directory; fitted on the training split "
        "when omitted (needs physical parameters in the manifest)."),
    preset: str | None = typer.Option(None, "--preset", help="quick, multisurvey or paper."),
    config: Path | None = typer.Option(None, "--config", help="YAML/JSON config file."),
    set_: list[str] = typer.Option([], "--set", help="Override: key=value (repeatable)."),
    mode: str | None = typer.Option(None, "--mode", help="two-losses (default) or one-loss."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    cadence_from: list[Path] = typer.Option(
        [], "--cadence-from", help="Light-curve directory whose cadence and noise to lend "
        "(repeatable; same as --set cadence_from=[DIR,...]): re-observed training views "
        "(transfer_copies) and synthetic curves at its epochs."),
    model_version: str | None = typer.Option(
        None, "--model-version", help="Version in the card, metrics and records (default: "
        "the date and a hash of the config, e.g. 2026.12.07+1a2b3c4d)."),
) -> None:
    """Train the self-regulated CNN (or the one-loss baseline), export ONNX + model card."""
    from rich.console import Console

    from training.classifier.evaluate import metrics_table
    from training.classifier.run import train_run
    from training.config import resolve_config

    if cadence_from:
        set_ = [*set_, f"cadence_from=[{','.join(str(d) for d in cadence_from)}]"]
    if model_version:
        set_ = [*set_, f"model_version={model_version}"]
    resolved = resolve_config(preset, config, with_device(set_, device), mode)
    metrics = train_run(data, out, resolved, generator_dir=generator, progress=not quiet)
    console = Console()
    console.print(metrics_table(metrics))
    members = metrics.get("members") or []
    best = (f"ensemble of {len(members)}, best epochs "
            f"{', '.join(str(m['best_epoch']) for m in members)}" if members else
            f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}")
    console.print(
        f"{resolved.mode}: {best}, "
        f"{metrics['seconds_per_epoch']:.2f} s/epoch on {metrics['device']}; ONNX parity "
        f"max |Δp| = {metrics['export_parity_max_abs_diff']:.1e}; wrote {out}/model.onnx, "
        "model_card.json, training_curves.png, confusion_matrix.png"
    )


def evaluate(
    model: Path = typer.Option(..., "--model", help="Run directory (model.onnx + card)."),
    data: Path = typer.Option(..., "--data", help="Labelled light-curve directory."),
    out: Path = typer.Option(..., "--out", help="Report directory to write."),
    other_data: Path | None = typer.Option(
        None, "--other-data", help="Light-curve directory whose curves of other classes "
        "(unlabelled, or labels the model does not know) score the unknown flag."),
) -> None:
    """Score an exported model as served: F1, ROC-AUC, recall, ECE, Brier, NLL, unknown flag."""
    from rich.console import Console

    from training.classifier.evaluate import evaluate_run, metrics_table

    result = evaluate_run(model, data, out, other_dir=other_data)
    console = Console()
    console.print(metrics_table(result))
    console.print(f"wrote {out}/metrics.json, {out}/confusion_matrix.png and "
                  f"{out}/reliability.png")


def calibrate(
    model: Path = typer.Option(..., "--model", help="Run directory (model.onnx + card)."),
    data: list[Path] = typer.Option(
        ..., "--data", help="Labelled light curves (repeatable): a few per class of the new "
        "survey (100 in all is enough), or with --run-split the run's own training data."),
    out: Path = typer.Option(..., "--out", help="Directory for the re-calibrated model."),
    keep: float = typer.Option(0.95, "--keep", help="Share of in-class curves the unknown "
                               "flag keeps (sets its threshold)."),
    max_curves: int = typer.Option(0, "--max-curves", min=0, help="Use at most this many "
                                   "labelled curves (seeded, evenly per class; 0 = all)."),
    seed: int = typer.Option(0, "--seed"),
    bank_data: list[Path] = typer.Option(
        [], "--bank-data", help="Labelled training curves for the unknown score's bank "
        "(repeatable); needed once for models trained before the unknown score existed."),
    run_split: bool = typer.Option(
        False, "--run-split", help="Calibrate on the real curves of MODEL/split.csv's "
        "validation rows and take the bank from its training rows (for runs trained "
        "before calibration existed; --data names the run's training data)."),
    model_version: str = typer.Option(
        "", "--model-version", help="Version of the re-calibrated model (default: the old "
        "one + '-cal.' + 8 hex of the new ONNX file's sha256)."),
    unknown_score: str = typer.Option(
        "auto", "--unknown-score", help="With a bank (--bank-data or --run-split): 'forest' "
        "(summary-statistics forest shown the catalogued other-class stars found in --data "
        "and --bank-data), 'knn' (deep kNN), or 'auto' (the forest where the model has "
        "summary statistics). Without a bank the model's score is kept."),
) -> None:
    """Refit temperature scaling and the unknown threshold on labelled curves of a survey."""
    from rich.console import Console

    from training.classifier.calibrate import calibrate_on_curves, is_simulated, split_of_run
    from training.classifier.data import load_curves
    from training.crosssurvey.loso import cap_per_group

    if unknown_score not in ("auto", "forest", "knn"):
        raise typer.BadParameter(f"{unknown_score!r}: use auto, forest or knn",
                                 param_hint="--unknown-score")
    curves = [c for d in data for c in load_curves(d)]
    bank = [c for d in bank_data for c in load_curves(d)] or None
    others = [c for c in [*curves, *(bank or [])] if not c.label]
    if run_split:
        bank, curves = split_of_run(model, curves)
        curves = [c for c in curves if not is_simulated(c)]
    if max_curves:
        classes = {c.label for c in curves if c.label}
        curves = cap_per_group([c for c in curves if c.label], max(
            max_curves // max(len(classes), 1), 1), seed, key=lambda c: (c.label,))
    source = ", ".join(str(d) for d in data) + (" (validation rows of split.csv)"
                                                 if run_split else "")
    card = calibrate_on_curves(model, out, curves, source, seed=seed, keep=keep,
                               bank_curves=bank, version=model_version, other_curves=others,
                               unknown_score=unknown_score)
    before, after = card.calibration["before"], card.calibration["after"]
    Console().print(
        f"temperature {card.calibration['temperature']:.3f} on "
        f"{card.calibration['fitted_on']['n_curves']} curves: ECE {before['ece']:.3f} -> "
        f"{after['ece']:.3f}, NLL {before['nll']:.3f} -> {after['nll']:.3f}; unknown "
        f"threshold {card.unknown['threshold']:.4f} keeps {keep:.0%}; wrote {out} "
        f"(version {card.version})")


def experiment(
    data: Path = typer.Option(..., "--data", help="Light-curve directory with labels "
                              "(and physical parameters for two-losses)."),
    out: Path = typer.Option(..., "--out", help="Directory for the experiment's outputs."),
    split_scenario: str = typer.Option("random", "--split-scenario",
                                       help="rrlyr, multiclass or random."),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Repeated holdouts K."),
    preset: str | None = typer.Option("quick", "--preset", help="quick, multisurvey or paper."),
    config: Path | None = typer.Option(None, "--config", help="YAML/JSON config file."),
    set_: list[str] = typer.Option([], "--set", help="Override: key=value (repeatable)."),
    vary: str | None = typer.Option(
        None, "--vary", help="Repeat for each value of an axis of the paper: policy, loss, "
        "snr or seq-length (Tables 3–6)."),
    values: str | None = typer.Option(
        None, "--values", help="With --vary: comma-separated values instead of the paper's."),
    one_loss_config: Path | None = typer.Option(
        None, "--one-loss-config", help="The one-loss runs' own config file (e.g. `training "
        "tune --mode one-loss`'s best-*.yaml), read over --preset; --set applies too."),
    two_losses_config: Path | None = typer.Option(
        None, "--two-losses-config", help="The two-losses runs' own config file, likewise."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """one-loss vs two-losses on the same repeated holdouts (paper's Table 5 layout); with
    --one-loss-config / --two-losses-config each mode trains with its own tuned config."""
    from rich.console import Console

    from training.classifier.experiment import (
        experiment_table,
        parse_values,
        run_experiment,
        run_varied,
        varied_table,
    )
    from training.config import resolve_config

    resolved = resolve_config(preset, config, with_device(set_, device))
    own = {mode: resolve_config(preset, path, with_device(set_, device), mode=mode)
           for mode, path in (("one-loss", one_loss_config), ("two-losses", two_losses_config))
           if path is not None}
    if vary is None:
        result = run_experiment(data, out, resolved, split_scenario, repeats,
                                progress=not quiet, mode_configs=own)
        Console().print(experiment_table(result))
        Console().print(f"wrote {out}/experiment.json")
        return
    varied = run_varied(data, out, resolved, vary, split_scenario, repeats,
                        parse_values(vary, values), progress=not quiet, mode_configs=own)
    for metric in ("macro_f1", "roc_auc_ovo"):
        Console().print(varied_table(varied, metric))
    Console().print(f"wrote {out}/vary.json")
