"""Commands of training.simulator, added to the `training` CLI by `register`.

`training simulate` writes simulated light curves, `training make-split` the paper's
induced-bias train/test splits, `training plot-curves` a PNG grid of example curves.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from broker_plugin.errors import UserError

#: Decimals stored for (time, mag, err): 1e-6 d and 1e-5 mag, far below any photometric error;
#: files about a third smaller than full precision, and still read back exactly as stored.
STORED_DECIMALS = (6, 5, 5)


class SplitOptionError(UserError, ValueError):
    """A make-split option out of range."""


def simulate(
    out: Path = typer.Option(..., "--out", help="Output light-curve directory."),
    n_per_class: int = typer.Option(50, "--n-per-class", help="Stars per class."),
    cadence: str | None = typer.Option(
        None, "--cadence", help="ogle, lsst or sparse (default ogle). With --cadence-from it "
        "only places the stars (distances, extinction)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (results are reproducible)."),
    classes: str = typer.Option(
        "CEP,DSCT,ECL,LPV,RRLYR", "--classes", help="Comma-separated classes to simulate."
    ),
    cadence_from: list[Path] = typer.Option(
        [], "--cadence-from", help="Light-curve directory whose epochs, bands, magnitude "
        "window and error-vs-magnitude relation observe the stars (repeatable; labels not "
        "needed). Each star takes every band of one random object of these directories."),
) -> None:
    """Simulate labelled light curves with physical parameters into a light-curve directory."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from broker_plugin.lightcurve_dir import LightCurveDirWriter
    from training.simulator.simulate import iter_chunks, validate_options

    wanted = [c.strip() for c in classes.split(",") if c.strip()]
    validate_options(n_per_class, cadence or "ogle", wanted)
    templates = None
    console = Console()
    if cadence_from:
        from training.cadence_transfer import load_cadence_templates

        templates = load_cadence_templates(cadence_from)
        cad = templates.cadence(cadence)
        mapping = ", ".join(f"{b or '(none)'}→{s}" for b, s in cad.band_map)
        console.print(f"cadence from {len(templates)} curves of {', '.join(templates.surveys)}: "
                      f"bands {mapping}; {cad.selection_band} window "
                      f"{cad.bright_limit:.1f}–{cad.faint_limit:.1f} mag")
    start = time.perf_counter()
    n_curves = 0
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns) as bar, LightCurveDirWriter(out, decimals=STORED_DECIMALS) as writer:
        name = "template-cadence" if templates is not None else cadence or "ogle"
        task = bar.add_task(f"simulating {name} stars", total=n_per_class * len(wanted))
        for chunk in iter_chunks(n_per_class, cadence, seed, wanted, templates=templates):
            writer.write(chunk.curves)
            n_curves += len(chunk.curves)
            bar.advance(task, chunk.n_objects)
        manifest = writer.close()
    console.print(f"wrote {n_curves} curves ({n_per_class} stars x {len(wanted)} classes) "
                    f"to {manifest} in {time.perf_counter() - start:.1f} s")


def make_split(
    data: Path = typer.Option(..., "--data", help="Light-curve directory to split."),
    scenario: str = typer.Option("multiclass", "--scenario", help="rrlyr or multiclass."),
    temperature: float = typer.Option(
        None, "--temperature", help="T in exp(-G/T); default 1 (rrlyr) or 3 (multiclass)."
    ),
    out: Path = typer.Option(..., "--out", help="Split directory (gets train/ and test/)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    trees: int = typer.Option(200, "--trees", help="Trees in the random forest."),
) -> None:
    """Induced-bias split (Pérez-Galarce et al. 2025): P(train) = exp(-Gini / T)."""
    from rich.console import Console

    from training.simulator.split import SCENARIOS, induced_bias_split, write_split

    if scenario not in SCENARIOS:
        raise SplitOptionError(
            f"--scenario {scenario!r} is unknown; choose one of {', '.join(SCENARIOS)}"
        )
    if temperature is None:
        temperature = SCENARIOS[scenario]
    if temperature <= 0:
        raise SplitOptionError(f"--temperature must be > 0, got {temperature}")
    result = induced_bias_split(data, scenario, temperature, seed, n_trees=trees)
    write_split(result, data, out)
    console = Console()
    console.print(result.class_table())
    console.print(result.tests_table())
    console.print(f"wrote {out / 'train'} and {out / 'test'} (manifests referencing {data})")


def plot_curves(
    data: Path = typer.Argument(..., help="Light-curve directory."),
    out: Path = typer.Option(..., "--out", help="PNG to write."),
    per_class: int = typer.Option(3, "--per-class", help="Examples per class."),
) -> None:
    """A PNG grid of example curves per class, raw and phase-folded at the manifest period."""
    from broker_plugin.lightcurve_dir import read_lightcurve_dir
    from training.simulator.plot import plot_curve_grid

    path = plot_curve_grid(read_lightcurve_dir(data), out, per_class)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("simulate")(simulate)
    app.command("make-split")(make_split)
    app.command("plot-curves")(plot_curves)
