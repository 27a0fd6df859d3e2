"""Running a typer app the way users expect: one clear line for their mistakes."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console

from broker_plugin.errors import ServiceStopError, UserError
from broker_plugin.serving.options import Option

stderr = Console(stderr=True)


#: Modules of the [train] extra: without them `training` says what to install, no traceback.
TRAIN_EXTRA_MODULES = frozenset({"torch", "sklearn", "scipy", "matplotlib", "onnx"})


def run_app(app: typer.Typer, prog_name: str) -> None:
    """Run `app`; a UserError becomes `error: <message>` on stderr and exit status 2, and so
    does a missing module of the [train] extra (one line naming the install command); a
    ServiceStopError of a running service is one line and exit status 1."""
    try:
        app(prog_name=prog_name, standalone_mode=True)
    except UserError as exc:
        _fail(str(exc))
    except ServiceStopError as exc:
        _fail(f"{exc} (stopped; a restart resumes from the last committed offsets)", status=1)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in TRAIN_EXTRA_MODULES:
            raise
        _fail(f"`{prog_name}` needs the [train] extra (module {top!r} is not installed): "
              "pip install 'selfreg-varstars[train]'")


def _fail(message: str, status: int = 2) -> None:
    from rich.markup import escape

    # Escaped: messages hold brackets ("[train]", "[0, 1]") that rich would take as markup.
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(status)


F = TypeVar("F", bound=Callable[..., Any])


def typer_option(option: Option, **changes: Any) -> Any:
    """The typer parameter of a declared option (flags, env var, default, help); `changes`
    replace some of them (default, help...) where a command means something narrower."""
    default = changes.pop("default", option.default)
    settings: dict[str, Any] = {"envvar": option.envvar, "help": option.help, **changes}
    return typer.Option(default, *option.flags, **settings)


def with_options(options: Sequence[Option]) -> Callable[[F], F]:
    """Give `func(**values)` one typer parameter per declared option, in order.

    typer reads a command's parameters from its signature; this builds that signature from
    the declarations, so a command's options are not written out a second time. typer then
    calls `func` with every option's parsed value, by option name.
    """

    def decorate(func: F) -> F:
        parameters = [
            inspect.Parameter(
                o.name, inspect.Parameter.KEYWORD_ONLY, default=typer_option(o), annotation=o.type
            )
            for o in options
        ]
        signature = inspect.Signature(parameters, return_annotation=None)
        func.__signature__ = signature  # type: ignore[attr-defined]
        func.__annotations__ = {**{o.name: o.type for o in options}, "return": None}
        return func

    return decorate
