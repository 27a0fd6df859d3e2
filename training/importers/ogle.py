"""OGLE Collection of Variable Stars: `.dat` light curves (+ `ident.dat`, parameter tables).

Input: a directory of `.dat` files (searched recursively; tar archives inside it are read too),
one `.dat`, or a tar(.gz) of them as OGLE distributes them (`phot_I.tar.gz`, members
`I/OGLE-LMC-CEP-0002.dat`), streamed without extracting. A `.dat` has three whitespace
columns `HJD-2450000 mag err`, no header; it is stored unchanged in the output directory.

Labels come from the OGLE identifier in the file name, `OGLE-<field>-<type>-<number>`:

==========  =======  ===========================================================
OGLE type   label    why
==========  =======  ===========================================================
CEP         CEP      classical (type I) Cepheids
RRLYR       RRLYR    RR Lyrae stars
DSCT        DSCT     delta Scuti stars
LPV         LPV      long-period variables (Miras, SRVs, OSARGs)
ECL         ECL      eclipsing (and ellipsoidal) binaries
T2CEP       skipped  type II Cepheids: old population II pulsators, a different
                     period-luminosity relation; not the classical-Cepheid class
ACEP        skipped  anomalous Cepheids: neither classical nor type II Cepheids
others      skipped  not one of the five classes (RCB, DPV, HB, ...)
==========  =======  ===========================================================

`type_map` (CLI `--map T2CEP=CEP`) overrides or extends this table. The OGLE type is kept in
the manifest column `ogle_type`, so a mapped type can still be told apart later.

Band: `I` or `V` from the member path (`I/...`, `V/...`), else `band` (default I).
Survey: `survey` if given, else the catalogue release, named by the OGLE phase that took the
latest epoch in the source (HJD-2450000 < 1900: OGLE-II, < 5100: OGLE-III, later: OGLE-IV).
It is one name per source, not per curve: OGLE-III catalogue curves carry OGLE-II epochs too,
and a few bright stars have OGLE-II epochs only (19 of the LMC Cepheids); the report says so.

Catalogue tables next to the light curves (in SRC's folder, or up to two levels above a
directory SRC, as in OGLE's `phot/I/` layout), unless given explicitly:
- `ident.dat`: the second field (bytes 19-26 in the Cepheid catalogue) is the pulsation mode
  (F, 1O, 2O, F/1O, 1O/2O, ...) -> manifest column `mode`; in other catalogues it is the
  subtype (RRab, RRc, Mira, ...) -> column `subclass`;
- parameter tables (`cepF.dat`, `cepFO3.dat`, `RRab.dat`, ...: every other `.dat` that is
  not a light curve): the period is the fourth field (bytes 34-44 in the Cepheid tables;
  for double-mode Cepheids the longer period) -> manifest column `period`.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from broker_plugin.lightcurve import CLASSES, LightCurve
from training.importers.output import collect_import, open_output
from training.importers.report import ImporterError, ImportReport
from training.importers.sources import ProgressBar, is_tar_name, iter_tar_members

OGLE_FILE = re.compile(
    r"^(?P<id>OGLE-(?P<field>[A-Za-z0-9]+)-(?P<type>[A-Za-z0-9]+)-(?P<number>\d+))\.dat$"
)
LABEL_OF_TYPE: dict[str, str] = {
    "CEP": "CEP", "RRLYR": "RRLYR", "DSCT": "DSCT", "LPV": "LPV", "ECL": "ECL",
}
WHY_SKIPPED: dict[str, str] = {
    "T2CEP": "type II Cepheid, not the classical-Cepheid class CEP",
    "ACEP": "anomalous Cepheid, not the classical-Cepheid class CEP",
}
PULSATION_MODE = re.compile(r"^(F|[1-3]O)(/(F|[1-3]O))*$")
BANDS_IN_PATH = ("I", "V")
#: Last epoch (HJD-2450000) below which a curve ends in OGLE-II, resp. OGLE-III.
OGLE_II_END, OGLE_III_END = 1900.0, 5100.0
_PHASE_ORDER = ("OGLE", "OGLE-II", "OGLE-III", "OGLE-IV")
_HEADER_LETTERS = re.compile(rb"[A-Za-z_]")  # same test as broker_plugin.lightcurve_dir


class _SkipFileError(Exception):
    """One source file left out, with the reason counted in the report."""


@dataclass(frozen=True)
class OgleCatalogue:
    """What `ident.dat` and the parameter tables say about each star id."""

    mode: Mapping[str, str] = field(default_factory=dict)
    subclass: Mapping[str, str] = field(default_factory=dict)
    period: Mapping[str, float] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    paths: frozenset[Path] = frozenset()  # files read as catalogue, not as light curves


def import_ogle(
    src: str | Path,
    out: str | Path,
    *,
    ident: str | Path | None = None,
    periods: Iterable[str | Path] = (),
    band: str = "I",
    survey: str | None = None,
    type_map: Mapping[str, str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> ImportReport:
    """Convert OGLE light curves under `src` into the light-curve directory `out`."""
    started = time.perf_counter()
    src = Path(src)
    labels = _label_table(type_map)
    catalogue, report = _prepare(src, ident, periods)
    with open_output(out, overwrite) as writer:
        for curve, raw in _scan(src, labels, catalogue, band, survey, report, progress):
            writer.add(curve, original=raw, original_suffix=".dat")
        writer.close(defaults={"survey": report.survey})
    report.out = Path(out)
    report.seconds = time.perf_counter() - started
    return report


def load_ogle(
    src: str | Path,
    *,
    ident: str | Path | None = None,
    periods: Iterable[str | Path] = (),
    band: str = "I",
    survey: str | None = None,
    type_map: Mapping[str, str] | None = None,
    progress: bool = False,
) -> tuple[list[LightCurve], ImportReport]:
    """The same curves `import_ogle` writes, in memory, sorted by object id and band."""
    started = time.perf_counter()
    src = Path(src)
    labels = _label_table(type_map)
    catalogue, report = _prepare(src, ident, periods)
    curves = [c for c, _ in _scan(src, labels, catalogue, band, survey, report, progress)]
    # The survey phase is known once every curve is read (see `_scan`).
    curves = [c if c.survey else c.with_(survey=report.survey) for c in curves]
    return collect_import(curves, report, started=started)


def parse_dat(raw: bytes) -> np.ndarray:
    """(n, 3) float64 time, mag, err of an OGLE `.dat`; raises _SkipFileError with the reason."""
    body = raw.strip()
    if not body:
        raise _SkipFileError("empty file")
    first = body.split(b"\n", 1)[0]
    if _HEADER_LETTERS.search(first):
        raise _SkipFileError("first line is text, not numbers (an OGLE .dat has no header)")
    n_columns = len(first.replace(b",", b" ").split())
    if n_columns < 3:
        raise _SkipFileError("fewer than 3 columns (time, mag, err)")
    tokens = body.replace(b",", b" ").split()
    if len(tokens) % n_columns:
        raise _SkipFileError("rows with different numbers of columns")
    try:
        numbers = np.array(tokens, dtype=np.float64)
    except ValueError:
        raise _SkipFileError("non-numeric value") from None
    return numbers.reshape(-1, n_columns)[:, :3]


def ogle_phase(time_hjd: np.ndarray) -> str:
    """OGLE-II, -III or -IV: the phase of the survey that took the last epoch."""
    finite = time_hjd[np.isfinite(time_hjd)]
    if not finite.size:
        return "OGLE"
    last = float(finite.max())
    if last > 2_400_000:  # full HJD rather than HJD-2450000
        last -= 2_450_000
    if last < OGLE_II_END:
        return "OGLE-II"
    return "OGLE-III" if last < OGLE_III_END else "OGLE-IV"


def read_ident(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Pulsation mode and subtype per star id from an OGLE `ident.dat`."""
    modes: dict[str, str] = {}
    subclasses: dict[str, str] = {}
    for line in _read_text(path).splitlines():
        tokens = line.split()
        if len(tokens) < 2 or not tokens[0].startswith("OGLE-"):
            continue
        second = tokens[1]
        if PULSATION_MODE.match(second):
            modes[tokens[0]] = second
        elif ":" not in second:  # not the right ascension: a subtype such as RRab or Mira
            subclasses[tokens[0]] = second
    if not modes and not subclasses:
        raise ImporterError(
            f"{path}: no 'OGLE-... <mode>' rows found; expected OGLE's ident.dat "
            "(star id, then pulsation mode or subtype)"
        )
    return modes, subclasses


def read_period_table(path: Path) -> tuple[dict[str, float], int]:
    """Period per star id from an OGLE parameter table, and the count of unusable rows."""
    rows = [line.split() for line in _read_text(path).splitlines()]
    rows = [r for r in rows if r and r[0].startswith("OGLE-")]
    if not rows:
        raise ImporterError(f"{path}: no rows starting with an OGLE id; not an OGLE table")
    width = Counter(len(r) for r in rows).most_common(1)[0][0]
    periods: dict[str, float] = {}
    for row in rows:
        # A row with fewer fields has a blank column, so the fourth field is not the period.
        if len(row) != width or len(row) < 4:
            continue
        try:
            value = float(row[3])
        except ValueError:
            continue
        if np.isfinite(value) and value > 0:
            periods[row[0]] = value
    if not periods:
        raise ImporterError(
            f"{path}: no period in the fourth field (bytes 34-44 in OGLE's tables); "
            "give an OGLE parameter table such as cepF.dat"
        )
    return periods, len(rows) - len(periods)


def _label_table(type_map: Mapping[str, str] | None) -> dict[str, str]:
    labels = dict(LABEL_OF_TYPE)
    for code, label in (type_map or {}).items():
        if label not in CLASSES:
            raise ImporterError(
                f"type map {code}={label}: {label!r} is not a class; use one of "
                f"{', '.join(CLASSES)}"
            )
        labels[code.upper()] = label
    return labels


def _prepare(
    src: Path, ident: str | Path | None, periods: Iterable[str | Path]
) -> tuple[OgleCatalogue, ImportReport]:
    if not src.exists():
        raise ImporterError(
            f"{src}: no such file or directory; give a directory of OGLE .dat files, "
            "one .dat file, or a tar(.gz) of them"
        )
    if src.is_file() and not (src.name.lower().endswith(".dat") or is_tar_name(src)):
        raise ImporterError(
            f"{src}: neither a .dat light curve nor a tar archive; give a directory of OGLE "
            ".dat files, one .dat file, or a .tar/.tar.gz of them"
        )
    report = ImportReport(source=src, survey="OGLE", unit="files")
    catalogue = _read_catalogue(src, ident, [Path(p) for p in periods], report)
    return catalogue, report


def _catalogue_dirs(src: Path) -> list[Path]:
    if src.is_dir():
        return [src, src.parent, src.parent.parent]
    return [src.parent]


def _read_catalogue(
    src: Path, ident: str | Path | None, periods: list[Path], report: ImportReport
) -> OgleCatalogue:
    sources: list[str] = []
    home: Path | None = None
    if ident is not None:
        ident_path = Path(ident)
        if not ident_path.is_file():
            raise ImporterError(f"{ident_path}: --ident file not found; give OGLE's ident.dat")
    else:
        found = [d / "ident.dat" for d in _catalogue_dirs(src) if (d / "ident.dat").is_file()]
        ident_path = found[0] if found else None
    modes: dict[str, str] = {}
    subclasses: dict[str, str] = {}
    if ident_path is not None:
        modes, subclasses = read_ident(ident_path)
        home = ident_path.parent
        sources.append(ident_path.name)
    else:
        report.notes.append("no ident.dat next to SRC (or --ident): no pulsation modes")

    explicit = bool(periods)
    if not explicit:
        home = home or (src if src.is_dir() else src.parent)
        periods = sorted(
            p for p in home.glob("*.dat")
            if p.name != "ident.dat" and not OGLE_FILE.match(p.name) and p.is_file()
        )
    period_of: dict[str, float] = {}
    for table in periods:
        if not table.is_file():
            raise ImporterError(f"{table}: --periods file not found; give an OGLE table")
        try:
            found_periods, unusable = read_period_table(table)
        except ImporterError as exc:
            if explicit:
                raise
            report.notes.append(f"ignored {table.name}: {str(exc).split(': ', 1)[1]}")
            continue
        for star, value in found_periods.items():
            period_of.setdefault(star, value)
        sources.append(table.name)
        if unusable:
            report.notes.append(f"{table.name}: {unusable:,} rows without a readable period")
    used = [ident_path] if ident_path is not None else []
    used += [t for t in periods if t.name in sources]
    return OgleCatalogue(
        modes, subclasses, period_of, tuple(sources), frozenset(p.resolve() for p in used)
    )


def _iter_raw(
    src: Path, progress: bool, exclude: frozenset[Path] = frozenset()
) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every candidate light-curve file under src, catalogue files excluded."""
    if src.is_file():
        if is_tar_name(src):
            yield from iter_tar_members(src, progress)
        else:
            yield src.name, src.read_bytes()
        return
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.resolve() not in exclude)
    archives = [p for p in files if is_tar_name(p)]
    plain = [p for p in files if not is_tar_name(p) and p.suffix.lower() == ".dat"]
    with ProgressBar(progress and len(plain) > 100, f"reading {src.name}", len(plain)) as bar:
        for done, path in enumerate(plain, 1):
            yield path.relative_to(src).as_posix(), path.read_bytes()
            bar.update(done)
    for archive in archives:
        yield from iter_tar_members(archive, progress)


def _scan(
    src: Path,
    labels: Mapping[str, str],
    catalogue: OgleCatalogue,
    default_band: str,
    survey: str | None,
    report: ImportReport,
    progress: bool,
) -> Iterator[tuple[LightCurve, bytes]]:
    seen: set[tuple[str, str]] = set()
    with_mode = with_period = without_ident = 0
    phases: Counter[str] = Counter()
    has_ident = bool(catalogue.mode or catalogue.subclass)
    for name, raw in _iter_raw(src, progress, catalogue.paths):
        path = PurePosixPath(name)
        report.read += 1
        match = OGLE_FILE.match(path.name)
        if not path.name.lower().endswith(".dat"):
            report.skip("not a .dat file")
            continue
        if match is None:
            report.skip("file name is not an OGLE id (OGLE-<field>-<type>-<number>.dat)")
            continue
        star, code = match["id"], match["type"].upper()
        label = labels.get(code)
        if label is None:
            why = WHY_SKIPPED.get(code, "not one of the five classes")
            report.skip(f"OGLE type {code}: {why} (--map {code}=<class> keeps it)")
            continue
        band = next((p for p in path.parts[:-1] if p in BANDS_IN_PATH), default_band)
        if (star, band) in seen:
            report.skip("duplicate star and band (already read from another file)")
            continue
        try:
            table = parse_dat(raw)
        except _SkipFileError as exc:
            report.skip(f"unreadable photometry: {exc}")
            continue
        seen.add((star, band))
        params = {"period": catalogue.period[star]} if star in catalogue.period else {}
        meta: dict[str, str] = {"ogle_type": code}
        if star in catalogue.mode:
            meta["mode"] = catalogue.mode[star]
        if star in catalogue.subclass:
            meta["subclass"] = catalogue.subclass[star]
        identified = "mode" in meta or "subclass" in meta
        with_mode += identified
        without_ident += has_ident and not identified
        with_period += bool(params)
        curve = LightCurve(
            object_id=star, time=table[:, 0], mag=table[:, 1], err=table[:, 2], band=band,
            label=label, survey=survey, params=params, meta=meta,
        )
        phases[ogle_phase(table[:, 0])] += 1
        report.add(curve)
        yield curve, raw
    # One survey name per source: the catalogue release, named by its latest phase.
    latest = max(phases, key=_PHASE_ORDER.index) if phases else "OGLE"
    report.survey = survey or latest
    if not survey and len(phases) > 1:
        early = ", ".join(f"{n:,} only {p}" for p, n in sorted(phases.items()) if p != latest)
        report.notes.append(f"survey {latest} for all curves; epochs of {early}")
    if has_ident:
        what = "/".join(k for k, v in (("mode", catalogue.mode),
                                         ("subclass", catalogue.subclass)) if v)
        report.notes.append(
            f"{what} from ident.dat for {with_mode:,} of {report.curves:,} curves"
            + (f"; {without_ident:,} ids not in ident.dat" if without_ident else "")
        )
    if catalogue.period:
        tables = ", ".join(s for s in catalogue.sources if s != "ident.dat")
        report.notes.append(f"period from {tables} for {with_period:,} of {report.curves:,} curves")
    if report.read and not report.curves:
        raise ImporterError(
            f"{src}: none of the {report.read:,} files is an importable OGLE light curve "
            f"({report.skipped.most_common(1)[0][0]}); give OGLE .dat files named by their id"
        )
    if not report.read:
        raise ImporterError(
            f"{src}: no .dat files or tar archives found; give a directory of OGLE .dat files, "
            "one .dat file, or a tar(.gz) of them"
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise ImporterError(f"{path}: cannot read ({exc.strerror})") from exc
