"""The `training` command line: import data, simulate, fit the generator, train, evaluate.

Each package registers its own commands; heavy imports (torch, sklearn) happen inside the
commands so that `training --help` stays fast.
"""

from __future__ import annotations

import typer

from broker_plugin.cli_support import run_app
from training.classifier.cli import register as register_classifier
from training.generator.cli import register as register_generator
from training.importers.cli import register as register_importers
from training.simulator.cli import register as register_simulator

app = typer.Typer(
    name="training",
    help="Offline side: self-regulated CNN + PELS-VAE training (Pérez-Galarce et al. 2025).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Keep sub-commands explicit."""


for register in (register_importers, register_simulator, register_generator, register_classifier):
    register(app)


def main() -> None:
    run_app(app, "training")
