"""Running a typer app the way users expect: one clear line for their mistakes."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from broker_plugin.errors import UserError

stderr = Console(stderr=True)


def run_app(app: typer.Typer, prog_name: str) -> None:
    """Run `app`; a UserError becomes `error: <message>` on stderr and exit status 2."""
    try:
        app(prog_name=prog_name, standalone_mode=True)
    except UserError as exc:
        stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
