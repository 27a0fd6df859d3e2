"""CRTS (Drake 2014) and Debosscher (2007) importers: counts on the shared sets, tiny tars."""

from __future__ import annotations

import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import CLASSES, LightCurve
from broker_plugin.lightcurve_dir import read_lightcurve_dir, read_manifest
from tests.importer_support import assert_same_curves, shared_import, write_tar
from training.classifier.data import featurise_labelled, load_curves
from training.cli import app
from training.importers import (
    ImporterError,
    ImportReport,
    import_crts,
    import_debosscher,
    load_crts,
    load_debosscher,
)
from training.importers.debosscher import survey_of

# The data README's class counts (crts_drake2014/), and our label for each class.
CRTS_CLASSES = {
    "EA": 996, "EW": 994, "beta_lyrae": 139, "RRab": 994, "RRc": 994, "RRd": 250,
    "Blazhko": 36, "LPV": 256, "HADS": 121, "LADS": 3, "RS_CVn": 757, "ELL": 71,
    "Cep_II": 62, "PCEB": 42, "ACEP": 30, "Hump": 12,
}
CRTS_LABEL = {
    "EA": "ECL", "EW": "ECL", "beta_lyrae": "ECL", "RRab": "RRLYR", "RRc": "RRLYR",
    "RRd": "RRLYR", "Blazhko": "RRLYR", "LPV": "LPV", "HADS": "DSCT", "LADS": "DSCT",
}
# Class names as found in the archive (26 of them), counts, survey and our label.
DEBOSSCHER_CLASSES = {
    "Classical Cepheid": (161, "Hipparcos", "CEP"),
    "Multiple Mode Cepheid": (94, "OGLE-II", "CEP"),
    "Delta Scuti": (104, "Hipparcos", "DSCT"),
    "SX Phoenicis": (4, "Hipparcos", "DSCT"),
    "Algol (Beta Persei)": (169, "OGLE-II", "ECL"),
    "Beta Lyrae": (145, "OGLE-II", "ECL"),
    "W Ursae Majoris": (58, "OGLE-II", "ECL"),
    "Mira": (101, "Hipparcos", "LPV"),
    "Semiregular Pulsating Variable": (34, "Hipparcos", "LPV"),
    "RR Lyrae, Fundamental Mode": (95, "Hipparcos", "RRLYR"),
    "RR Lyrae, First Overtone": (21, "Hipparcos", "RRLYR"),
    "RR Lyrae, Double Mode": (57, "OGLE-II", "RRLYR"),
    "Periodically variable supergiants": (84, "Hipparcos", None),
    "Chemically Peculiar Stars": (49, "Hipparcos", None),
    "Wolf-Rayet": (36, "Hipparcos", None),
    "Beta Cephei": (32, "Hipparcos", None),
    "Gamma Doradus": (28, "Hipparcos", None),
    "Slowly Pulsating B-stars": (27, "Hipparcos", None),
    "Population II Cepheid": (18, "Hipparcos", None),
    "T Tauri": (15, "Hipparcos", None),
    "Ellipsoidal": (14, "Hipparcos", None),
    "Lambda Bootis Variable": (13, "Hipparcos", None),
    "Herbig AE/BE Star": (13, "Hipparcos", None),
    "X Ray Binary": (7, "Hipparcos", None),
    "S Doradus": (7, "Hipparcos", None),
    "RV Tauri": (6, "Hipparcos", None),
}

# ---------------------------------------------------------------------------------------------
# The shared real sets (skipped without ../shared/data): each imported once per module.


CRTS_TAR = "crts_drake2014/train_lc.tar.gz"
DEBOSSCHER_TAR = "debosscher2007/vosource_xml.tar.gz"
crts_import = shared_import(import_crts, CRTS_TAR)
debosscher_import = shared_import(import_debosscher, DEBOSSCHER_TAR)


def member_bytes(archive: Path, name: str) -> bytes:
    """One member, read by streaming up to it (the ones used here come first in the archive)."""
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            if member.name == name:
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read()
    raise AssertionError(f"{name} not in {archive}")


@pytest.fixture(scope="module")
def crts_stored(crts_import: tuple[ImportReport, Path]) -> dict[str, LightCurve]:
    return {c.object_id: c for c in read_lightcurve_dir(crts_import[1])}


@pytest.fixture(scope="module")
def debosscher_stored(debosscher_import: tuple[ImportReport, Path]) -> dict[str, LightCurve]:
    return {c.object_id: c for c in read_lightcurve_dir(debosscher_import[1])}


def test_crts_class_counts_match_the_readme(crts_import: tuple[ImportReport, Path]) -> None:
    """All 5,757 stars, the README's count per class, labels from the class map, none skipped."""
    report, out = crts_import
    assert (report.read, report.n_objects, report.curves, report.n_skipped) == (
        5757, 5757, 5757, 0)
    manifest = read_manifest(out)
    assert dict(manifest["source_class"].value_counts().iter_rows()) == CRTS_CLASSES
    assert dict(report.label_objects) == {
        "ECL": 2129, "RRLYR": 2274, "LPV": 256, "DSCT": 124, "(none)": 974}
    labels = manifest.select("source_class", "label").unique().iter_rows()
    assert {cls: label for cls, label in labels} == {c: CRTS_LABEL.get(c) for c in CRTS_CLASSES}
    assert set(manifest["survey"]) == {"CRTS"} and set(manifest["band"]) == {"V"}


def test_crts_values_match_the_raw_member(
    crts_stored: dict[str, LightCurve], shared_data: Path
) -> None:
    """Star 1101014036588 (RRc): MJD, mag, magerr are the member's columns, RA/Dec their median."""
    raw = pl.read_csv(member_bytes(shared_data / CRTS_TAR, "train/1101014036588-RRc.csv"))
    curve = crts_stored["1101014036588"]
    np.testing.assert_array_equal(curve.time, raw["MJD"].to_numpy())
    np.testing.assert_array_equal(curve.mag, raw["mag"].to_numpy())
    np.testing.assert_array_equal(curve.err, raw["magerr"].to_numpy())
    assert curve.time[0] == 53710.2422189815 and curve.mag[0] == 16.007721
    assert (curve.label, curve.band, curve.survey) == ("RRLYR", "V", "CRTS")
    assert curve.meta["source_class"] == "RRc"
    assert curve.meta["ra"] == raw["RA"].median() and curve.meta["dec"] == raw["Dec"].median()


def test_crts_mixed_directory_loads_for_training(crts_import: tuple[ImportReport, Path]) -> None:
    """load_curves reads labelled and unlabelled rows; featurise_labelled drops the unlabelled."""
    curves = load_curves(crts_import[1], max_per_class=10, seed=1)
    assert sum(c.label is None for c in curves) == 10 and len(curves) == 50
    data = featurise_labelled(curves, list(CLASSES), FeatureSettings())
    assert data.dropped == {"unlabelled": 10} and len(data) == 40


def test_debosscher_class_counts(debosscher_import: tuple[ImportReport, Path]) -> None:
    """1,392 stars in 26 classes with the counts the README gives; labels from the class map."""
    report, out = debosscher_import
    assert (report.read, report.n_objects, report.curves, report.n_skipped) == (
        1392, 1392, 1392, 0)
    manifest = read_manifest(out)
    assert dict(manifest["source_class"].value_counts().iter_rows()) == {
        c: n for c, (n, _, _) in DEBOSSCHER_CLASSES.items()}
    assert dict(report.label_objects) == {
        "CEP": 255, "DSCT": 108, "ECL": 372, "LPV": 135, "RRLYR": 173, "(none)": 349}
    labels = manifest.select("source_class", "label").unique().iter_rows()
    assert {cls: label for cls, label in labels} == {
        c: label for c, (_, _, label) in DEBOSSCHER_CLASSES.items()}


def test_debosscher_surveys_from_the_epochs(
    debosscher_import: tuple[ImportReport, Path], debosscher_stored: dict[str, LightCurve]
) -> None:
    """Classical Cepheids are Hipparcos (Hp), multimode Cepheids OGLE-II (I), and so on per class;
    time + time_zero lies in the survey's years for every curve."""
    manifest = read_manifest(debosscher_import[1])
    per_class = manifest.group_by("source_class").agg(pl.col("survey").unique())
    assert dict(per_class.iter_rows()) == {
        c: [survey] for c, (_, survey, _) in DEBOSSCHER_CLASSES.items()}
    assert manifest.filter(pl.col("source_class") == "Classical Cepheid")[
        "survey"].to_list() == ["Hipparcos"] * 161
    assert manifest.filter(pl.col("source_class") == "Multiple Mode Cepheid")[
        "survey"].to_list() == ["OGLE-II"] * 94
    assert dict(manifest["survey"].value_counts().iter_rows()) == {"Hipparcos": 869,
                                                                   "OGLE-II": 523}
    pairs = set(manifest.select("survey", "band").iter_rows())
    assert pairs == {("Hipparcos", "Hp"), ("OGLE-II", "I")}
    assert dict(manifest["time_zero"].value_counts().iter_rows()) == {
        2_440_000.0: 869, 0.0: 465, 2_450_000.0: 57, 2_400_000.0: 1}
    years = {"Hipparcos": (2447800, 2449100), "OGLE-II": (2450400, 2451950)}  # JD
    for curve in debosscher_stored.values():
        jd = curve.time + curve.meta["time_zero"]
        first, last = years[curve.survey]
        assert first <= jd.min() and jd.max() <= last, curve.object_id


def test_debosscher_values_match_the_xml(
    debosscher_stored: dict[str, LightCurve], shared_data: Path
) -> None:
    """Star 100148636 (Delta Scuti, Hipparcos): every <TR> row, the class and the position, as
    ElementTree reads the whole file."""
    root = ET.fromstring(member_bytes(shared_data / DEBOSSCHER_TAR, "debosscher/100148636.xml"))
    rows = np.array([[float(td.text or "nan") for td in tr] for tr in root.iter("TR")])
    curve = debosscher_stored["100148636"]
    np.testing.assert_array_equal(np.column_stack([curve.time, curve.mag, curve.err]), rows)
    assert rows[0].tolist() == [8008.29262, 9.8239, 0.024]
    assert (curve.label, curve.band, curve.survey) == ("DSCT", "Hp", "Hipparcos")
    assert curve.meta["source_class"] == root.find(".//Classifications//class").get("name")
    assert (curve.meta["ra"], curve.meta["dec"]) == (283.3230988, 21.2257614)


@pytest.mark.parametrize(
    ("load", "source", "stored", "unlabelled"),
    [
        (load_crts, CRTS_TAR, "crts_stored",  # 974 curves
         {c: n for c, n in CRTS_CLASSES.items() if c not in CRTS_LABEL}),
        (load_debosscher, DEBOSSCHER_TAR, "debosscher_stored",  # 349 curves
         {c: n for c, (n, _, label) in DEBOSSCHER_CLASSES.items() if label is None}),
    ],
    ids=["crts", "debosscher"],
)
def test_directory_reads_back_identically(
    load, source: str, stored: str, unlabelled: dict[str, int], shared_data: Path,
    request: pytest.FixtureRequest,
) -> None:
    """read_lightcurve_dir gives exactly the curves load_* builds in memory; the classes
    outside the five come back unlabelled (label None), every curve of them."""
    curves, _ = load(shared_data / source)
    back = list(request.getfixturevalue(stored).values())
    assert_same_curves(curves, back)
    assert Counter(c.meta["source_class"] for c in back if c.label is None) == unlabelled


# ---------------------------------------------------------------------------------------------
# Tiny hand-made archives.


CRTS_HEADER = b'"ID","MJD","mag","magerr","RA","Dec"\n'


def crts_rows(star: str, mag2: str = "15.2") -> bytes:
    return CRTS_HEADER + (f"{star},53700.1,15.1,0.05,10.0,1.0\n{star},53700.2,{mag2},0.06,"
                          f"10.00002,1.00002\n{star},53711.5,15.3,0.05,10.00001,1.00001\n").encode()


def test_crts_tiny_archive_labels_and_skips(tmp_path: Path) -> None:
    """Mapped and unmapped classes kept (the latter unlabelled); bad members skipped by reason."""
    archive = write_tar(tmp_path / "train_lc.tar.gz", {
        "train/111-RRab.csv": crts_rows("111"),
        "train/222-RS_CVn.csv": crts_rows("222"),
        "train/333-EA.csv": b"time,mag,err\n1.0,15.0,0.1\n",
        "train/444-EW.csv": crts_rows("444", mag2="oops"),
        "train/oops.csv": crts_rows("555"),
        "train/666-LPV.csv": crts_rows("777"),
        "train/README": b"not a star",
    })
    report = import_crts(tmp_path, tmp_path / "out")  # the folder holding the archive
    curves = {c.object_id: c for c in read_lightcurve_dir(tmp_path / "out")}
    assert sorted(curves) == ["111", "222"]
    assert (curves["111"].label, curves["222"].label) == ("RRLYR", None)
    assert curves["222"].meta["source_class"] == "RS_CVn"
    assert curves["111"].time.tolist() == [53700.1, 53700.2, 53711.5]
    assert curves["111"].meta["ra"] == 10.00001
    assert report.read == 6 and report.source == archive
    assert report.skipped == {
        'star: CSV header is not "ID","MJD","mag","magerr","RA","Dec"': 1,
        "star: CSV not readable as ID,MJD,mag,magerr,RA,Dec numbers": 1,
        "file name is not <CSS id>-<class>.csv": 1,
        "star: ID column differs from the id in the file name": 1,
    }
    assert dict(report.label_objects) == {"RRLYR": 1, "(none)": 1}


def test_crts_nothing_importable_is_one_error(tmp_path: Path) -> None:
    """An archive whose every member has an unknown header names the archive and the reason."""
    archive = write_tar(tmp_path / "x.tar.gz", {"train/1-EA.csv": b"time,mag,err\n1,2,3\n"})
    with pytest.raises(ImporterError, match=r"no star could be imported .*CSV header") as info:
        import_crts(archive, tmp_path / "out")
    assert str(archive) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out" / "manifest.csv").exists()


VOSOURCE = """<?xml version="1.0"?>
<VOSOURCE version="0.04">
  <ID>{id}</ID>
  <WhereWhen><Position2D unit="deg"><Value2><c1>12.5</c1><c2>-30.25</c2></Value2></Position2D>
  </WhereWhen>
  <VOTimeseries version="0.04"><Resource name="db photometry"><TABLE name="Clear:table1">
    <FIELD name="{f0}" ID="col1" datatype="float" unit="day"/>
    <FIELD name="m" ID="col2" datatype="float" unit="mag"/>
    <FIELD name="m_err" ID="col3" datatype="float" unit="mag"/>
    <DATA><TABLEDATA>
{rows}
    </TABLEDATA></DATA></TABLE></Resource></VOTimeseries>
  <Features><Feature><name>x</name><val>1</val></Feature></Features>
  <Classifications><Classification type="human">
    <class name="{cls}" dbname="tutor" prob="1.000000"></class>
  </Classification></Classifications>
</VOSOURCE>
"""


def vosource(cls: str, times: list[str], f0: str = "t", cell: str = "9.5") -> bytes:
    rows = "\n".join(f'<TR row="{i}"><TD>{t}</TD><TD>{cell}</TD><TD>0.01</TD></TR>'
                     for i, t in enumerate(times, 1))
    return VOSOURCE.format(id=1, f0=f0, rows=rows, cls=cls).encode()


def test_debosscher_tiny_archive_surveys_labels_and_skips(tmp_path: Path) -> None:
    """Survey, band and time_zero from the epochs; unknown classes unlabelled; bad files skipped."""
    archive = write_tar(tmp_path / "vosource_xml.tar.gz", {
        "debosscher/1.xml": vosource("Classical Cepheid", ["7900.1", "8900.2"]),
        "debosscher/2.xml": vosource("Multiple Mode Cepheid", ["2450500.5", "2451200.5"]),
        "debosscher/3.xml": vosource("RR Lyrae, Double Mode", ["466.5", "1873.7"]),
        "debosscher/4.xml": vosource("Algol (Beta Persei)", ["50455.6", "51000.1"]),
        "debosscher/5.xml": vosource("Be Star", ["8000.0", "8001.0"]),
        "debosscher/6.xml": vosource("Mira", ["3000.0", "3100.0"]),
        "debosscher/7.xml": vosource("Mira", ["8000.0"], cell="x"),
        "debosscher/8.xml": vosource("Mira", ["8000.0"], f0="time"),
        "debosscher/9.xml": vosource("Mira", ["8000.0"]).replace(b"<TD>0.01</TD>", b""),
        "debosscher/10.xml": vosource("Mira", ["8000.0"]).replace(b"Classification", b"X"),
        "debosscher/notes.txt": b"not a star",
    })
    report = import_debosscher(archive, tmp_path / "out")
    curves = {c.object_id: c for c in read_lightcurve_dir(tmp_path / "out")}
    got = {k: (c.label, c.survey, c.band, c.meta["time_zero"]) for k, c in curves.items()}
    assert got == {
        "1": ("CEP", "Hipparcos", "Hp", 2_440_000.0),
        "2": ("CEP", "OGLE-II", "I", 0.0),
        "3": ("RRLYR", "OGLE-II", "I", 2_450_000.0),
        "4": ("ECL", "OGLE-II", "I", 2_400_000.0),
        "5": (None, "Hipparcos", "Hp", 2_440_000.0),
    }
    assert curves["5"].meta["source_class"] == "Be Star"
    assert (curves["1"].meta["ra"], curves["1"].meta["dec"]) == (12.5, -30.25)
    assert curves["2"].time.tolist() == [2450500.5, 2451200.5]
    reasons = {r.split(" (")[0].split(" under")[0]: n for r, n in report.skipped.items()}
    assert report.read == 10 and reasons == {
        "star: epochs fit neither Hipparcos": 1,
        "star: non-numeric <TD> value": 1,
        "star: <FIELD>s ['time', 'm', 'm_err'] lack one of t, m, m_err": 1,
        "star: <TR> rows without exactly 3 <TD> cells": 1,
        "star: no <Classifications> element": 1,
    }


def test_survey_of_windows_and_zero_points() -> None:
    """The four zero points map onto the two surveys' years; anything else fits none."""
    assert survey_of(np.array([7856.68, 9061.93])) == ("Hipparcos", "Hp", 2_440_000.0)
    assert survey_of(np.array([2447856.7, np.nan])) == ("Hipparcos", "Hp", 0.0)
    assert survey_of(np.array([50446.7, 51702.5])) == ("OGLE-II", "I", 2_400_000.0)
    assert survey_of(np.array([600.0, 1873.7])) == ("OGLE-II", "I", 2_450_000.0)
    assert survey_of(np.array([7856.68, 10600.0])) is None  # spans both
    assert survey_of(np.array([55000.0])) is None and survey_of(np.array([np.nan])) is None


@pytest.mark.parametrize("importer", [import_crts, import_debosscher], ids=["crts", "debosscher"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.tar.gz", "no such file"),
        (lambda p: (p / "x.txt").write_text("a") and p / "x.txt", "not a tar archive"),
        (lambda p: (p / "x.tar.gz").write_bytes(b"not a tar") and p / "x.tar.gz",
         "not a readable tar archive"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no .* in it"),
        (lambda p: write_tar(p / "x.tar.gz", {"a/README": b"x"}), "no star could be imported"),
    ],
    ids=["missing", "wrong-suffix", "corrupt-tar", "empty-dir", "no-members"],
)
def test_bad_source_is_one_clear_error(tmp_path: Path, importer, make, message: str) -> None:
    """A missing, wrongly typed, corrupt or empty SRC raises ImporterError naming it."""
    src = make(tmp_path)
    with pytest.raises(ImporterError, match=message) as info:
        importer(src, tmp_path / "out")
    assert str(src) in str(info.value) and "\n" not in str(info.value)


def test_cli_crts_and_debosscher(tmp_path: Path) -> None:
    """`training import crts|debosscher` print per-label counts, the source classes and OUT."""
    (tmp_path / "crts").mkdir()
    write_tar(tmp_path / "crts" / "train_lc.tar.gz", {
        "train/111-RRab.csv": crts_rows("111"), "train/222-RS_CVn.csv": crts_rows("222")})
    deb = write_tar(tmp_path / "vosource_xml.tar.gz", {
        "debosscher/1.xml": vosource("Mira", ["7900.1", "8900.2"])})
    runner = CliRunner()
    result = runner.invoke(app, ["import", "crts", str(tmp_path / "crts"), str(tmp_path / "o1"),
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "read 2 files" in text and "RRLYR │ 1 │ 1" in text and "(none) │ 1 │ 1" in text
    assert "source classes: RRab 1, RS_CVn 1 (unlabelled)" in text
    assert f"wrote 2 curves to {tmp_path / 'o1'}" in text
    result = runner.invoke(app, ["import", "debosscher", str(deb), str(tmp_path / "o2"), "--quiet"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "LPV │ 1 │ 1" in text and "Mira 1 (Hipparcos, LPV)" in text
