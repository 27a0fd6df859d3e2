"""Commands of training.generator: fit-generator, synthesize, plot-synthetic.

Heavy imports (torch, sklearn, matplotlib) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from broker_plugin.errors import UserError


class GeneratorCliError(UserError, ValueError):
    """A bad command-line choice for the generator commands."""


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("fit-generator")(fit_generator)
    app.command("synthesize")(synthesize)
    app.command("plot-synthetic")(plot_synthetic)


def fit_generator(
    data: Path = typer.Option(..., "--data", help="Light-curve directory (manifest.csv) with "
                              "labels and periods; other physical parameters optional."),
    out: Path = typer.Option(..., "--out", help="Generator directory to write."),
    preset: str = typer.Option("default", "--preset", help="quick (small VAE, <= 150 curves "
                               "per class, early stopping: minutes on a CPU), default, or "
                               "paper (2 x 300 phase points, wide network; for a GPU)."),
    config: Path | None = typer.Option(None, "--config", help="GeneratorConfig YAML or JSON file "
                                       "(overrides the preset's fields it names)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override VAE epochs."),
    n_phase: int | None = typer.Option(None, "--n-phase", help="Override points per cycle."),
    beta: float | None = typer.Option(None, "--beta", help="Override the KL weight β."),
    seed: int | None = typer.Option(None, "--seed", help="Override the seed."),
    grid_search: bool = typer.Option(False, "--grid-search", help="Grid-search the regressor."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: "
                                      "CUDA when present)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Fit PELS-VAE, the per-class parameter mixtures and the latent regressor."""
    import time

    from rich.console import Console

    from broker_plugin.lightcurve_dir import read_lightcurve_dir
    from training.generator.config import GeneratorConfig
    from training.generator.generator import PelsGenerator

    # A config file's keys override the preset's; the single options override both.
    base = (
        GeneratorConfig.from_json(config, preset) if config else GeneratorConfig.preset(preset)
    )
    overrides = {
        k: v
        for k, v in {"epochs": epochs, "n_phase": n_phase, "beta": beta, "seed": seed}.items()
        if v is not None
    }
    if grid_search:
        overrides["regressor_grid_search"] = True
    resolved = GeneratorConfig.from_dict({**base.to_dict(), **overrides})
    console = Console(stderr=True, quiet=quiet)
    console.print(f"reading {data} (preset {preset})")
    curves = read_lightcurve_dir(data)
    started = time.perf_counter()
    generator = PelsGenerator.fit(curves, resolved, progress=not quiet, device=device)
    generator.metrics["fit_seconds"] = time.perf_counter() - started
    generator.metrics["data"] = str(data)
    generator.metrics["preset"] = preset
    generator.save(out)
    Console().print(summary_table(generator.metrics))
    Console().print(f"generator written to {out}")


def summary_table(metrics: dict) -> object:
    """A rich table of what the fit achieved, baselines beside the model figures."""
    from rich.table import Table

    table = Table(title="PELS-VAE generator")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("baseline", justify="right")
    per_class = ", ".join(f"{k} {v}" for k, v in metrics["per_class"].items())
    skipped = f"{metrics['n_skipped']} skipped"
    table.add_row("curves", f"{metrics['n_curves']} ({per_class})", skipped)
    table.add_row("missing parameters imputed", f"{metrics['missing_parameter_share']:.1%}", "")
    if "vae_curves" in metrics:
        table.add_row(
            "VAE training curves / epochs run",
            f"{metrics['vae_curves']} / {metrics['vae_epochs_run']}",
            f"best epoch {metrics['vae_best_epoch']}",
        )
    table.add_row(
        "VAE held-out MSE (normalised mag)",
        f"{metrics['vae_val_mse']:.4g}",
        f"{metrics['vae_baseline_mse']:.4g} (mean curve)",
    )
    table.add_row("regressor held-out R²", f"{metrics['regressor_r2']:.3f}", "0 (mean μ)")
    table.add_row(
        "regressor held-out MAE", f"{metrics['regressor_mae']:.4g}",
        f"{metrics['regressor_baseline_mae']:.4g} (mean μ)",
    )
    table.add_row(
        "mixture components",
        ", ".join(f"{k} {v}" for k, v in metrics["mixture_components"].items()), "",
    )
    table.add_row("device", str(metrics.get("device")), "")
    if "fit_seconds" in metrics:
        table.add_row("fit time", f"{metrics['fit_seconds']:.1f} s", "")
    return table


def synthesize(
    generator_dir: Path = typer.Option(..., "--generator", help="Directory of fit-generator."),
    n_per_class: int = typer.Option(..., "--n-per-class", min=1, help="Curves per class."),
    b: float = typer.Option(1.0, "--b", help="Tempering exponent: q ∝ p^b (b < 1 spreads)."),
    out: Path = typer.Option(..., "--out", help="Light-curve directory to write."),
    classes: str | None = typer.Option(None, "--classes", help="Comma-separated subset."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write synthetic light curves (labels and sampled parameters in the manifest)."""
    from rich.console import Console

    from broker_plugin.lightcurve_dir import write_lightcurve_dir
    from training.generator.generator import PelsGenerator

    if not b > 0:
        raise GeneratorCliError(f"--b must be positive, got {b}")
    generator = PelsGenerator.load(generator_dir)
    chosen = _classes(classes, generator.classes)
    curves = generator.sample_curves({c: n_per_class for c in chosen}, b=b, seed=seed)
    write_lightcurve_dir(out, curves)
    Console().print(f"{len(curves)} synthetic curves ({', '.join(chosen)}, b = {b:g}) -> {out}")


def plot_synthetic(
    generator_dir: Path = typer.Option(..., "--generator", help="Directory of fit-generator."),
    out: Path = typer.Option(..., "--out", help="PNG to write."),
    b: float = typer.Option(1.0, "--b", help="Tempering exponent."),
    classes: str | None = typer.Option(None, "--classes", help="Comma-separated subset."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """The paper's Figure 5: decoded, unfolded, folded beside nearest real, (Δt, Δm)."""
    from training.generator.figures import plot_synthetic as draw
    from training.generator.generator import PelsGenerator

    if not b > 0:
        raise GeneratorCliError(f"--b must be positive, got {b}")
    generator = PelsGenerator.load(generator_dir)
    path = draw(generator, out, _classes(classes, generator.classes), b=b, seed=seed)
    typer.echo(f"figure written to {path}")


def _classes(text: str | None, known: list[str]) -> list[str]:
    if not text:
        return list(known)
    chosen = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise GeneratorCliError(f"--classes: unknown {unknown}; this generator knows {known}")
    return chosen
