"""The shared real sets in one place: which importer reads which folder of `../shared/data`.

Used by the cross-survey benchmark (leave one survey out), by the multi-survey recipe and
by `training import shared`. Each set is imported once into WORKDIR/<name> (skipped when
already there) with the project's own importers; nothing is copied into the project.
Surveys are told apart by the `survey` column the importers write (Debosscher's set holds
two: Hipparcos and OGLE-II).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from broker_plugin.lightcurve import LightCurve
from training.classifier.data import load_curves
from training.importers.report import ImporterError


def _importers(data: Path) -> dict[str, Callable[[Path], Any]]:
    from training import importers as imp

    return {
        "ogle3_cep": lambda out: imp.import_ogle(data / "ogle3_lmc_cep" / "phot_I.tar.gz", out),
        "ogle4_dsct": lambda out: imp.import_ogle(data / "ogle4_lmc_dsct", out),
        "eros1": lambda out: imp.import_eros1(data / "eros1_lmc_train", out),
        "sdss_rrlyr": lambda out: imp.import_sdss_rrlyr(data / "sdss_s82_rrlyr", out),
        "crts": lambda out: imp.import_crts(data / "crts_drake2014" / "train_lc.tar.gz", out),
        "debosscher": lambda out: imp.import_debosscher(
            data / "debosscher2007" / "vosource_xml.tar.gz", out),
    }


SET_NAMES: tuple[str, ...] = ("ogle3_cep", "ogle4_dsct", "eros1", "sdss_rrlyr", "crts",
                              "debosscher")


def import_shared(data: str | Path, workdir: str | Path, quiet: bool = False,
                  names: tuple[str, ...] = SET_NAMES) -> dict[str, Path]:
    """Import every shared set under `workdir` (once); returns name → light-curve directory."""
    data, workdir = Path(data), Path(workdir)
    if not data.is_dir():
        raise ImporterError(f"{data}: shared data folder not found; pass the folder that "
                            "holds ogle3_lmc_cep/, eros1_lmc_train/, ... (../shared/data)")
    jobs = _importers(data)
    dirs: dict[str, Path] = {}
    for name in names:
        out = workdir / name
        if not (out / "manifest.csv").exists():
            report = jobs[name](out)
            if not quiet:
                print(f"imported {name}: {report.curves} curves in {report.seconds:.0f} s "
                      f"-> {out}", file=sys.stderr)
        dirs[name] = out
    return dirs


def load_shared(dirs: dict[str, Path]) -> list[LightCurve]:
    """Every curve of the imported sets (labelled or not), in set order."""
    return [c for name in dirs for c in load_curves(dirs[name])]
