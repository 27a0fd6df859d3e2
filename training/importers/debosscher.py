"""The Debosscher et al. (2007, A&A 475, 1159) benchmark: Hipparcos and OGLE-II light curves.

Input: `vosource_xml.tar.gz` (as distributed by the TCP/Berkeley group), or the folder
holding it; streamed, not extracted. Members `debosscher/<id>.xml`, one VOSource XML file
per star: the class in `<Classifications>` ... `<class name="...">`, the photometry in one
`<TABLE>` whose `<FIELD>`s name the columns (`t`, `m`, `m_err`; t in days) and whose
`<TABLEDATA>` holds `<TR row="N"><TD>t</TD><TD>m</TD><TD>m_err</TD></TR>` rows, the sky
position in `<Position2D>` (degrees). The object id is the file name's stem (100000000 plus
the file's `<ID>`).

Labels from the class name:

=======  =================================================================
label    Debosscher classes (names as in the archive)
=======  =================================================================
CEP      Classical Cepheid (Hipparcos), Multiple Mode Cepheid (OGLE-II)
DSCT     Delta Scuti, SX Phoenicis
ECL      Algol (Beta Persei), Beta Lyrae, W Ursae Majoris (all OGLE-II)
LPV      Mira, Semiregular Pulsating Variable
RRLYR    RR Lyrae, Fundamental Mode / First Overtone / Double Mode
(empty)  every other class: Periodically variable supergiants, Chemically
         Peculiar Stars, Wolf-Rayet, Beta Cephei, Gamma Doradus, Slowly
         Pulsating B-stars, Population II Cepheid, RV Tauri, Ellipsoidal,
         T Tauri, Lambda Bootis Variable, Herbig AE/BE Star, X Ray Binary,
         S Doradus, and any name not in the table
=======  =================================================================

Population II Cepheids and RV Tauri stars (type II Cepheids in OGLE's scheme) are not
classical Cepheids, nor long-period variables; ellipsoidal variables do not eclipse. Curves
of the other classes are kept with an empty label (read back as `None`) as the set's
out-of-distribution objects; every curve carries its original class in the manifest column
`source_class`, and `ra`, `dec` from `<Position2D>`. Training skips unlabelled curves;
code of its own filters with `curve.label in CLASSES`.

Survey and band, from the epochs. The files declare `MJD` with time zero 0, which is not
true: the times use four zero points, none of them MJD. In this archive all 869 Hipparcos
stars have JD - 2440000 (t ~ 7856-9062); of the 523 OGLE-II stars, 465 (eclipsing binaries
and multimode Cepheids) have full HJD (t ~ 2450446-2451703), the 57 double-mode RR Lyrae
HJD - 2450000 (t ~ 466-1874) and one Algol HJD - 2400000. The rule: a curve is `Hipparcos`
(band `Hp`) if, with one of the zero points 0, 2400000, 2440000, 2450000 added, all its
times fall within JD 2447800-2449100 (the mission ran 1989 Nov - 1993 Mar), and `OGLE-II`
(band `I`) if they fall within JD 2450400-2451950 (1996 Nov - 2001 Jan; OGLE-II observed
1997-2000). Under those four zero points the eight windows do not overlap, so at most one
survey fits; a curve that fits none is skipped and counted. Times are stored as published;
the zero point found is the manifest column `time_zero` (JD = time + time_zero).
The magnitudes agree: Hipparcos stars are Hp 1.1-13.4, OGLE-II stars I 13.0-21.8.

The XML is parsed by regular expressions that cut out the few elements needed (the
`<TABLEDATA>` cells go through one numpy conversion per file); each element other than
the table cells is then parsed by `xml.etree.ElementTree`. Parsing the whole files with
ElementTree is ten times slower: 85 % of the 150 MB are a `<Features>` section not read here.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from broker_plugin.lightcurve import LightCurve
from training.importers.output import collect_import, write_import
from training.importers.report import ImportReport
from training.importers.sources import find_archive, iter_star_members

SURVEY = "Hipparcos+OGLE-II (Debosscher 2007)"
ARCHIVE = "vosource_xml.tar.gz"
LABEL_OF_CLASS: Mapping[str, str] = {
    "Classical Cepheid": "CEP",
    "Multiple Mode Cepheid": "CEP",
    "Delta Scuti": "DSCT",
    "SX Phoenicis": "DSCT",
    "Algol (Beta Persei)": "ECL",
    "Beta Lyrae": "ECL",
    "W Ursae Majoris": "ECL",
    "Mira": "LPV",
    "Semiregular Pulsating Variable": "LPV",
    "RR Lyrae, Fundamental Mode": "RRLYR",
    "RR Lyrae, First Overtone": "RRLYR",
    "RR Lyrae, Double Mode": "RRLYR",
}
#: (survey, band, first JD, last JD): the window all of a curve's epochs must fall in.
SURVEY_WINDOWS: tuple[tuple[str, str, float, float], ...] = (
    ("Hipparcos", "Hp", 2_447_800.0, 2_449_100.0),
    ("OGLE-II", "I", 2_450_400.0, 2_451_950.0),
)
#: Zero points the archive's times are given in (JD = t + zero point).
TIME_ZEROS: tuple[float, ...] = (0.0, 2_400_000.0, 2_440_000.0, 2_450_000.0)
COLUMNS = ("t", "m", "m_err")

_TABLE = re.compile(rb"<TABLE\b.*?</TABLE>", re.S)
_TABLEDATA = re.compile(rb"(<TABLEDATA>)(.*?)(</TABLEDATA>)", re.S)
_CLASSIFICATIONS = re.compile(rb"<Classifications\b.*?</Classifications>", re.S)
_POSITION = re.compile(rb"<Position2D\b.*?</Position2D>", re.S)
_TR = re.compile(rb"<TR\b")
_TD = re.compile(rb"<TD>([^<]*)</TD>")
_LOOKUP = {" ".join(k.split()).casefold(): v for k, v in LABEL_OF_CLASS.items()}


class _SkipFileError(Exception):
    """One source file left out, with the reason counted in the report."""


def import_debosscher(
    src: str | Path, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> ImportReport:
    """Convert the Debosscher VOSource archive into the light-curve directory `out`."""
    started = time.perf_counter()
    archive, report = _prepare(Path(src))
    return write_import(
        out, _scan(archive, report, progress), report, overwrite=overwrite, started=started
    )


def load_debosscher(
    src: str | Path, progress: bool = False
) -> tuple[list[LightCurve], ImportReport]:
    """The same curves `import_debosscher` writes, in memory, sorted by object id."""
    started = time.perf_counter()
    archive, report = _prepare(Path(src))
    return collect_import(_scan(archive, report, progress), report, started=started)


def label_of(source_class: str) -> str | None:
    """Our class for a Debosscher class name (whitespace and case ignored), else None."""
    return _LOOKUP.get(" ".join(source_class.split()).casefold())


def survey_of(times: np.ndarray) -> tuple[str, str, float] | None:
    """(survey, band, time zero) whose epoch window holds all `times`, or None (see above)."""
    finite = times[np.isfinite(times)]
    if not finite.size:
        return None
    first, last = float(finite.min()), float(finite.max())
    for zero in TIME_ZEROS:
        for survey, band, start, end in SURVEY_WINDOWS:
            if start <= first + zero and last + zero <= end:
                return survey, band, zero
    return None


def parse_vosource(raw: bytes) -> tuple[str, np.ndarray, tuple[float, float] | None]:
    """(class name, (n, 3) t/m/m_err, (ra, dec) or None) of one file; _SkipFileError if not."""
    found = _CLASSIFICATIONS.search(raw)
    if found is None:
        raise _SkipFileError("no <Classifications> element")
    names = [c.get("name", "").strip() for c in _element(found.group(), "Classifications")
             .iter("class")]
    names = [n for n in names if n]
    if not names:
        raise _SkipFileError('no <class name="..."> in <Classifications>')
    tables = _TABLE.findall(raw)
    if len(tables) != 1:
        raise _SkipFileError(f"{len(tables)} <TABLE> elements, expected one")
    cells = _TABLEDATA.search(tables[0])
    if cells is None:
        raise _SkipFileError("no <TABLEDATA> in the <TABLE>")
    bare = tables[0][:cells.start(2)] + tables[0][cells.end(2):]
    fields = [f.get("name", "") for f in _element(bare, "TABLE").iter("FIELD")]
    if any(c not in fields for c in COLUMNS):
        raise _SkipFileError(f"<FIELD>s {fields} lack one of {', '.join(COLUMNS)}")
    body = cells.group(2)
    n_rows, tokens = len(_TR.findall(body)), _TD.findall(body)
    if not n_rows:
        raise _SkipFileError("no <TR> rows (no measurements)")
    if len(tokens) != n_rows * len(fields):
        raise _SkipFileError(f"<TR> rows without exactly {len(fields)} <TD> cells")
    try:
        numbers = np.array(tokens, dtype=np.float64).reshape(n_rows, len(fields))
    except ValueError:
        raise _SkipFileError("non-numeric <TD> value") from None
    table = numbers[:, [fields.index(c) for c in COLUMNS]]
    return names[0], table, _position(raw)


def _element(text: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise _SkipFileError(f"<{what}> is not well-formed XML ({exc})") from None


def _position(raw: bytes) -> tuple[float, float] | None:
    found = _POSITION.search(raw)
    if found is None:
        return None
    try:
        element = _element(found.group(), "Position2D")
    except _SkipFileError:
        return None
    values = [element.findtext(f"Value2/{c}") for c in ("c1", "c2")]
    try:
        ra, dec = (float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return ra, dec


def _prepare(src: Path) -> tuple[Path, ImportReport]:
    give = f"give the Debosscher {ARCHIVE} (members debosscher/<id>.xml) or its folder"
    archive = find_archive(src, ARCHIVE, give)
    return archive, ImportReport(source=archive, survey=SURVEY, unit="files")


def _scan(archive: Path, report: ImportReport, progress: bool) -> Iterator[LightCurve]:
    seen: set[str] = set()
    classes: Counter[tuple[str, str]] = Counter()
    surveys: Counter[str] = Counter()
    zeros: Counter[float] = Counter()
    no_position = 0
    for member, raw in iter_star_members(archive, ".xml", report, progress):
        star = member.stem
        if star in seen:
            report.skip("star: duplicate file name in the archive (first kept)")
            continue
        try:
            source_class, table, position = parse_vosource(raw)
        except _SkipFileError as exc:
            report.skip(f"star: {exc}")
            continue
        found = survey_of(table[:, 0])
        if found is None:
            report.skip("star: epochs fit neither Hipparcos (JD 2447800-2449100) nor OGLE-II "
                        "(JD 2450400-2451950) under zero points 0, 2400000, 2440000, 2450000")
            continue
        survey, band, zero = found
        seen.add(star)
        classes[(source_class, survey)] += 1
        surveys[survey] += 1
        zeros[zero] += 1
        meta: dict[str, object] = {"source_class": source_class, "time_zero": zero}
        if position is not None:
            meta["ra"], meta["dec"] = position
        no_position += position is None
        curve = LightCurve(
            object_id=star, time=table[:, 0], mag=table[:, 1], err=table[:, 2], band=band,
            label=label_of(source_class), survey=survey, meta=meta,
        )
        report.add(curve)
        yield curve
    if classes:
        report.notes.append("source classes: " + ", ".join(
            f"{c} {n:,} ({s}, {label_of(c) or 'unlabelled'})"
            for (c, s), n in sorted(classes.items(), key=lambda item: (-item[1], item[0]))))
        report.notes.append("surveys: " + ", ".join(
            f"{s} {n:,}" for s, n in surveys.most_common()))
        report.notes.append("time zero points (JD = time + zero): " + ", ".join(
            f"{z:.0f} {n:,}" for z, n in zeros.most_common()))
    if no_position:
        report.notes.append(f"{no_position:,} stars without a readable <Position2D>")
    report.check_imported(
        archive, "no .xml members", "expected VOSource XML members debosscher/<id>.xml"
    )
