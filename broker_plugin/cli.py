"""The `broker-plugin` command line: serve a model on Kafka alert streams, or replay files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from broker_plugin.cli_support import run_app
from broker_plugin.features import featurise_batch
from broker_plugin.lightcurve_dir import read_lightcurve_dir

app = typer.Typer(
    name="broker-plugin",
    help="Online side: classify variable stars in LSST/ZTF alert streams with an ONNX model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


@app.callback()
def _root() -> None:
    """Keep sub-commands explicit even while few exist."""


@app.command()
def features(
    directory: Path = typer.Argument(..., help="A light-curve directory (manifest.csv + files)."),
) -> None:
    """Summarise the (Δt, Δm) sequences the model would see for a light-curve directory."""
    curves = read_lightcurve_dir(directory)
    batch = featurise_batch(curves)
    table = Table(title=f"{directory}: {len(curves)} curves")
    for column in ("label", "curves", "median length", "empty"):
        table.add_column(column)
    labels = sorted({c.label or "-" for c in curves})
    for label in labels:
        rows = [i for i, c in enumerate(curves) if (c.label or "-") == label]
        lengths = batch.lengths[rows]
        median = float(np.median(lengths)) if rows else 0.0
        table.add_row(label, str(len(rows)), f"{median:.0f}", str(int((lengths == 0).sum())))
    console.print(table)


def main() -> None:
    run_app(app, "broker-plugin")
