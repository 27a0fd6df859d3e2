"""Commands of training.classifier: `train`, `evaluate`, `experiment`.

Heavy imports (torch, sklearn, matplotlib) happen inside the commands so `training --help`
stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("experiment")(experiment)


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
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    cadence_from: list[Path] = typer.Option(
        [], "--cadence-from", help="Light-curve directory whose cadence and noise to lend "
        "(repeatable; same as --set cadence_from=[DIR,...]): re-observed training views "
        "(transfer_copies) and synthetic curves at its epochs."),
) -> None:
    """Train the self-regulated CNN (or the one-loss baseline), export ONNX + model card."""
    from rich.console import Console

    from training.classifier.evaluate import metrics_table
    from training.classifier.run import train_run
    from training.config import resolve_config

    if cadence_from:
        set_ = [*set_, f"cadence_from=[{','.join(str(d) for d in cadence_from)}]"]
    resolved = resolve_config(preset, config, set_, mode)
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
) -> None:
    """Score an exported model with onnxruntime: F1, ROC-AUC OVO/OVR, recall, ECE."""
    from rich.console import Console

    from training.classifier.evaluate import evaluate_run, metrics_table

    result = evaluate_run(model, data, out)
    console = Console()
    console.print(metrics_table(result))
    console.print(f"wrote {out}/metrics.json and {out}/confusion_matrix.png")


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
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """one-loss vs two-losses on the same repeated holdouts (paper's Table 5 layout)."""
    from rich.console import Console

    from training.classifier.experiment import experiment_table, run_experiment
    from training.config import resolve_config

    resolved = resolve_config(preset, config, set_)
    result = run_experiment(data, out, resolved, split_scenario, repeats, progress=not quiet)
    Console().print(experiment_table(result))
    Console().print(f"wrote {out}/experiment.json")
