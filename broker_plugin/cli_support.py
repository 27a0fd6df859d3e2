"""Running a typer app the way users expect: one clear line for their mistakes."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from broker_plugin.errors import UserError

stderr = Console(stderr=True)


#: Modules of the [train] extra: without them `training` says what to install, no traceback.
TRAIN_EXTRA_MODULES = frozenset({"torch", "sklearn", "scipy", "matplotlib", "onnx"})


def run_app(app: typer.Typer, prog_name: str) -> None:
    """Run `app`; a UserError becomes `error: <message>` on stderr and exit status 2, and so
    does a missing module of the [train] extra (one line naming the install command)."""
    try:
        app(prog_name=prog_name, standalone_mode=True)
    except UserError as exc:
        _fail(str(exc))
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in TRAIN_EXTRA_MODULES:
            raise
        _fail(f"`{prog_name}` needs the [train] extra (module {top!r} is not installed): "
              "pip install 'selfreg-varstars[train]'")


def _fail(message: str) -> None:
    from rich.markup import escape

    # Escaped: messages hold brackets ("[train]", "[0, 1]") that rich would take as markup.
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)
