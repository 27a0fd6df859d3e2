"""`training import ogle|eros1|sdss-rrlyr|crts|debosscher SRC OUT`: real survey data into
light-curve directories.

Each command prints what it read, what it kept per label, what it skipped and why (counts per
reason) and where it wrote; a bad SRC is one `error:` line naming the path and the fix.
"""

from __future__ import annotations

from pathlib import Path

import typer

import_app = typer.Typer(
    name="import",
    help="Convert real survey data (OGLE, EROS-1, SDSS Stripe 82, CRTS, Debosscher 2007) into "
    "light-curve directories.",
    no_args_is_help=True,
)

_OUT = typer.Argument(..., help="Light-curve directory to write (manifest.csv + lc/).")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace an earlier import in OUT.")
_QUIET = typer.Option(False, "--quiet", help="No progress bar.")


def register(app: typer.Typer) -> None:
    """Add the `import` command group to the root app."""
    app.add_typer(import_app, name="import")


@import_app.command("ogle")
def ogle(
    src: Path = typer.Argument(
        ..., help="Directory of OGLE .dat files (tar archives inside are read too), one .dat, "
        "or a .tar/.tar.gz of them (streamed, not extracted)."),
    out: Path = _OUT,
    ident: Path | None = typer.Option(
        None, "--ident", help="OGLE ident.dat (pulsation modes); default: found next to SRC."),
    periods: list[Path] = typer.Option(
        [], "--periods", help="OGLE parameter table(s) for the period column, e.g. cepF.dat "
        "(repeatable); default: the .dat tables next to ident.dat."),
    band: str = typer.Option("I", "--band", help="Band when the path has no I/ or V/ folder."),
    survey: str | None = typer.Option(
        None, "--survey", help="Survey name (default: OGLE-II/-III/-IV from the epochs)."),
    type_map: list[str] = typer.Option(
        [], "--map", help="Map an OGLE type to a class, e.g. --map T2CEP=CEP (repeatable)."),
    overwrite: bool = _OVERWRITE,
    quiet: bool = _QUIET,
) -> None:
    """OGLE .dat light curves: label from the id (OGLE-LMC-CEP-0002 -> CEP), mode from ident.dat."""
    from training.importers.ogle import import_ogle
    from training.importers.report import print_report

    report = import_ogle(
        src, out, ident=ident, periods=periods, band=band, survey=survey,
        type_map=_parse_map(type_map), overwrite=overwrite, progress=not quiet,
    )
    print_report(report)


@import_app.command("eros1")
def eros1(
    src: Path = typer.Argument(
        ..., help="EROS-1 folder with train.csv and train_varlength_features.csv.gz."),
    out: Path = _OUT,
    overwrite: bool = _OVERWRITE,
    quiet: bool = _QUIET,
) -> None:
    """EROS-1 LMC train set: two curves per star (B_E, R_E), labels ECL/CEP/RRLYR/LPV."""
    from training.importers.eros1 import import_eros1
    from training.importers.report import print_report

    print_report(import_eros1(src, out, overwrite=overwrite, progress=not quiet))


@import_app.command("sdss-rrlyr")
def sdss_rrlyr(
    src: Path = typer.Argument(
        ..., help="SDSS Stripe 82 RR Lyrae folder with light-curves.tar.gz and periods.csv."),
    out: Path = _OUT,
    overwrite: bool = _OVERWRITE,
    quiet: bool = _QUIET,
) -> None:
    """SDSS Stripe 82 RR Lyrae: one curve per star and band (ugriz), subclass RRab/RRc."""
    from training.importers.report import print_report
    from training.importers.sdss_rrlyr import import_sdss_rrlyr

    print_report(import_sdss_rrlyr(src, out, overwrite=overwrite, progress=not quiet))


@import_app.command("crts")
def crts(
    src: Path = typer.Argument(
        ..., help="CRTS train_lc.tar.gz (members train/<CSS id>-<class>.csv; streamed), or its "
        "folder."),
    out: Path = _OUT,
    overwrite: bool = _OVERWRITE,
    quiet: bool = _QUIET,
) -> None:
    """CRTS (Drake 2014) variables, band V (unfiltered); other classes kept unlabelled."""
    from training.importers.crts import import_crts
    from training.importers.report import print_report

    print_report(import_crts(src, out, overwrite=overwrite, progress=not quiet))


@import_app.command("debosscher")
def debosscher(
    src: Path = typer.Argument(
        ..., help="Debosscher 2007 vosource_xml.tar.gz (members debosscher/<id>.xml; streamed), "
        "or its folder."),
    out: Path = _OUT,
    overwrite: bool = _OVERWRITE,
    quiet: bool = _QUIET,
) -> None:
    """Debosscher 2007: Hipparcos (Hp) and OGLE-II (I) by epoch; other classes kept unlabelled."""
    from training.importers.debosscher import import_debosscher
    from training.importers.report import print_report

    print_report(import_debosscher(src, out, overwrite=overwrite, progress=not quiet))


@import_app.command("shared")
def shared(
    src: Path = typer.Argument(..., help="The shared data folder (../shared/data)."),
    out: Path = typer.Argument(..., help="Folder to receive one light-curve directory per set."),
) -> None:
    """Every shared real set at once (OUT/ogle3_cep, eros1, crts, ...); earlier ones reused."""
    from training.crosssurvey.shared_sets import import_shared

    for name, directory in import_shared(src, out).items():
        typer.echo(f"{name}: {directory}")


def _parse_map(items: list[str]) -> dict[str, str]:
    from training.importers.report import ImporterError

    mapping: dict[str, str] = {}
    for item in items:
        code, sep, label = item.partition("=")
        if not sep or not code.strip() or not label.strip():
            raise ImporterError(f"--map {item!r}: expected CODE=CLASS, e.g. --map T2CEP=CEP")
        mapping[code.strip().upper()] = label.strip().upper()
    return mapping
