"""The model shipped inside the package: what `run` and `classify` serve without `--model`.

A user who installs the plugin gets a classifier trained on every shared real survey, the
simulator and cadence transfer (`scripts/build-default-model` rebuilds it from
`../shared/data`; its card names the data and the recipe). An operator with a better
model for their stream passes `--model DIR` (env `BROKER_PLUGIN_MODEL`).
"""

from __future__ import annotations

from pathlib import Path

from broker_plugin.errors import UserError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "_model"


class NoModelError(UserError, ValueError):
    """No `--model` given and no model shipped with this installation."""


def resolve_model_dir(model: Path | None) -> Path:
    """`model` when given, else the shipped model (an error with the fix when it is absent)."""
    if model is not None:
        return model
    if not (DEFAULT_MODEL_DIR / "model.onnx").is_file():
        raise NoModelError(
            f"no --model given and this installation ships no default model in "
            f"{DEFAULT_MODEL_DIR}; pass --model RUN_DIR (a `training train` output) or run "
            "scripts/build-default-model")
    return DEFAULT_MODEL_DIR
