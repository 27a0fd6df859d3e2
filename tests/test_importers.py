"""Importers of real survey data: counts and values on the shared sets, errors on tiny files."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from broker_plugin.lightcurve_dir import read_lightcurve_dir, read_manifest
from tests.importer_support import assert_same_curves, shared_import, write_tar
from training.cli import app
from training.importers import (
    ImporterError,
    ImportReport,
    import_eros1,
    import_ogle,
    import_sdss_rrlyr,
    load_eros1,
    load_ogle,
    load_sdss_rrlyr,
)

# ---------------------------------------------------------------------------------------------
# The shared real sets (skipped without ../shared/data): each imported once per module.


ogle_import = shared_import(import_ogle, "ogle3_lmc_cep/phot_I.tar.gz")
eros_import = shared_import(import_eros1, "eros1_lmc_train")
sdss_import = shared_import(import_sdss_rrlyr, "sdss_s82_rrlyr")


def test_ogle_lmc_cepheids_all_imported(ogle_import: tuple[ImportReport, Path]) -> None:
    """All 3,344 OGLE-III LMC Cepheids are written as CEP, I band, OGLE-III, none skipped."""
    report, out = ogle_import
    assert (report.read, report.curves, report.n_skipped) == (3344, 3344, 0)
    assert dict(report.label_objects) == {"CEP": 3344}
    manifest = read_manifest(out)
    assert manifest.height == 3344
    assert set(manifest["band"]) == {"I"} and set(manifest["survey"]) == {"OGLE-III"}


def test_ogle_modes_are_ident_columns_19_26(
    ogle_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """Every `mode` equals bytes 19-26 of ident.dat; only the 5 ids absent from it lack one."""
    lines = (shared_data / "ogle3_lmc_cep" / "ident.dat").read_text().splitlines()
    ident = {line[:17].strip(): line[18:26].strip() for line in lines}
    manifest = read_manifest(ogle_import[1])
    rows = manifest.select("object_id", "mode").iter_rows()
    with_mode = {star: mode for star, mode in rows if mode is not None}
    assert len(with_mode) == 3339
    assert all(ident[star] == mode for star, mode in with_mode.items())
    assert {"F", "1O", "2O", "F/1O", "1O/2O"} <= set(with_mode.values())
    assert all(star not in ident for star in set(manifest["object_id"]) - set(with_mode))


def test_ogle_periods_are_cepfo3_columns_34_44(
    ogle_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """`period` equals bytes 34-44 of cepFO3.dat for every star the table lists."""
    lines = (shared_data / "ogle3_lmc_cep" / "cepFO3.dat").read_text().splitlines()
    table = {line[:17]: float(line[33:44]) for line in lines}
    manifest = read_manifest(ogle_import[1]).filter(pl.col("period").is_not_null())
    assert manifest.height == sum(star in table for star in read_manifest(ogle_import[1])[
        "object_id"])
    assert all(table[s] == p for s, p in manifest.select("object_id", "period").iter_rows())
    assert dict(zip(manifest["object_id"], manifest["period"], strict=True))[
        "OGLE-LMC-CEP-0002"] == 3.1181195


def test_ogle_values_match_the_raw_member(
    ogle_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """The stored curve of OGLE-LMC-CEP-0002 equals the tar member parsed by numpy directly."""
    with tarfile.open(shared_data / "ogle3_lmc_cep" / "phot_I.tar.gz") as archive:
        member = archive.extractfile("I/OGLE-LMC-CEP-0002.dat")
        assert member is not None
        raw = np.loadtxt(io.BytesIO(member.read()))
    manifest = read_manifest(ogle_import[1]).filter(pl.col("object_id") == "OGLE-LMC-CEP-0002")
    stored = np.loadtxt(ogle_import[1] / manifest["path"][0])
    np.testing.assert_array_equal(stored, raw)
    assert raw[0].tolist() == [2171.85654, 15.601, 0.007]


def test_ogle_directory_reads_back_identically(
    ogle_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """read_lightcurve_dir gives exactly the curves load_ogle builds in memory."""
    curves, _ = load_ogle(shared_data / "ogle3_lmc_cep" / "phot_I.tar.gz")
    assert_same_curves(curves, read_lightcurve_dir(ogle_import[1]))


def test_ogle4_delta_scuti_files(shared_data: Path, tmp_path: Path) -> None:
    """The two OGLE-IV .dat files import as DSCT from OGLE-IV."""
    report = import_ogle(shared_data / "ogle4_lmc_dsct", tmp_path)
    curves = read_lightcurve_dir(tmp_path)
    assert report.curves == 2 and {c.label for c in curves} == {"DSCT"}
    assert {c.survey for c in curves} == {"OGLE-IV"}


def test_eros1_counts_labels_and_bands(eros_import: tuple[ImportReport, Path]) -> None:
    """2,912 stars with the README's label counts, each as one B_E and one R_E curve."""
    report, out = eros_import
    assert (report.read, report.n_objects, report.curves, report.n_skipped) == (
        2912, 2912, 5824, 0)
    assert dict(report.label_objects) == {"RRLYR": 1777, "CEP": 604, "ECL": 339, "LPV": 192}
    bands = read_manifest(out).group_by("object_id").agg(pl.col("band").sort())
    assert bands["band"].to_list() == [["B_E", "R_E"]] * 2912


def test_eros1_values_match_train_files(
    eros_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """Star 135_9613: period = period / div_period and the first points of both bands."""
    manifest = read_manifest(eros_import[1]).filter(pl.col("object_id") == "135_9613")
    assert manifest["label"].to_list() == ["RRLYR", "RRLYR"]
    assert manifest["period"][0] == pytest.approx(2.35495 / 7.0, rel=1e-15)
    curves = {c.band: c for c in read_lightcurve_dir(eros_import[1])
              if c.object_id == "135_9613"}
    assert curves["B_E"].time[:3].tolist() == [290.3, 291.35, 322.25]
    assert curves["B_E"].mag[:2].tolist() == [19.15, 18.96]
    assert curves["R_E"].time[:2].tolist() == [290.34, 291.31]
    assert curves["R_E"].err[:2].tolist() == [0.16, 0.25]


def test_eros1_directory_reads_back_identically(
    eros_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """read_lightcurve_dir gives exactly the curves load_eros1 builds in memory."""
    curves, _ = load_eros1(shared_data / "eros1_lmc_train")
    assert_same_curves(curves, read_lightcurve_dir(eros_import[1]))


def test_sdss_counts_subclasses_and_bands(sdss_import: tuple[ImportReport, Path]) -> None:
    """483 RR Lyrae (379 RRab, 104 RRc), five bands each, the 59 sentinel points dropped."""
    report, out = sdss_import
    assert (report.read, report.n_objects, report.curves) == (483, 483, 483 * 5)
    assert dict(report.label_objects) == {"RRLYR": 483}
    assert report.dropped_points == {"no-data sentinel (magerr 99.999)": 59}
    manifest = read_manifest(out)
    per_star = manifest.unique("object_id")["subclass"].value_counts()
    assert dict(per_star.iter_rows()) == {"RRab": 379, "RRc": 104}
    assert set(manifest["band"]) == set("ugriz")


def test_sdss_values_match_raw_csv(
    sdss_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """Star 4099: period from periods.csv, r-band points equal the raw CSV's r rows."""
    with tarfile.open(shared_data / "sdss_s82_rrlyr" / "light-curves.tar.gz") as archive:
        member = archive.extractfile("light-curves/4099.csv")
        assert member is not None
        raw = pl.read_csv(member.read()).filter(
            (pl.col("band") == "r") & (pl.col("magerr") < 99))
    curve = next(c for c in read_lightcurve_dir(sdss_import[1])
                 if c.object_id == "4099" and c.band == "r")
    np.testing.assert_array_equal(curve.time, raw["time"].to_numpy())
    np.testing.assert_array_equal(curve.mag, raw["mag"].to_numpy())
    assert curve.params["period"] == 0.641754351271 and curve.meta["subclass"] == "RRab"


def test_sdss_directory_reads_back_identically(
    sdss_import: tuple[ImportReport, Path], shared_data: Path
) -> None:
    """read_lightcurve_dir gives exactly the curves load_sdss_rrlyr builds in memory."""
    curves, _ = load_sdss_rrlyr(shared_data / "sdss_s82_rrlyr")
    assert_same_curves(curves, read_lightcurve_dir(sdss_import[1]))


# ---------------------------------------------------------------------------------------------
# Tiny hand-made sources.

DAT = b"5261.55978 19.029 0.048\n5261.60142 19.134 0.056\n5300.1 19.0 0.05\n"
IDENT = (
    "OGLE-LMC-CEP-0001       1O  04:30:57.72 -69:03:37.4  LMC546.19.3065   LMC156.5.186\n"
    "OGLE-LMC-CEP-0002      F/1O 04:31:47.05 -69:49:09.5  LMC538.25.57     LMC157.6.2009\n"
)
TABLE = "OGLE-LMC-CEP-0002  15.672 16.412   3.1181195 0.0000161  2171.23921  0.257\n"


def write_ogle_folder(root: Path) -> Path:
    (root / "phot").mkdir(parents=True)
    (root / "phot" / "OGLE-LMC-CEP-0001.dat").write_bytes(DAT)
    (root / "phot" / "OGLE-LMC-CEP-0002.dat").write_bytes(DAT.replace(b"19.0 ", b"18.5 "))
    (root / "phot" / "OGLE-LMC-T2CEP-001.dat").write_bytes(DAT)
    (root / "phot" / "OGLE-LMC-RRLYR-00001.dat").write_bytes(b"")
    (root / "phot" / "OGLE-LMC-ECL-00001.dat").write_bytes(b"1.0 2.0 0.1\n3.0 4.0.0 0.1\n")
    (root / "phot" / "notes.dat").write_bytes(DAT)
    (root / "ident.dat").write_text(IDENT)
    (root / "cepF.dat").write_text(TABLE)
    return root / "phot"


def test_ogle_folder_labels_modes_periods_and_skips(tmp_path: Path) -> None:
    """Labels from ids, modes from ident.dat two levels up, period from cepF.dat, skip reasons."""
    src = write_ogle_folder(tmp_path / "cat")
    report = import_ogle(src, tmp_path / "out")
    curves = {c.object_id: c for c in read_lightcurve_dir(tmp_path / "out")}
    assert sorted(curves) == ["OGLE-LMC-CEP-0001", "OGLE-LMC-CEP-0002"]
    assert curves["OGLE-LMC-CEP-0001"].meta["mode"] == "1O"
    assert curves["OGLE-LMC-CEP-0002"].meta["mode"] == "F/1O"
    assert dict(curves["OGLE-LMC-CEP-0002"].params) == {"period": 3.1181195}
    assert curves["OGLE-LMC-CEP-0001"].survey == "OGLE-IV"
    reasons = " | ".join(f"{n} {r}" for r, n in report.skipped.items())
    assert report.read == 6 and report.n_skipped == 4
    assert "1 OGLE type T2CEP" in reasons and "1 file name is not an OGLE id" in reasons
    assert "empty file" in reasons and "non-numeric value" in reasons


def test_ogle_type_map_keeps_type2_cepheids(tmp_path: Path) -> None:
    """--map T2CEP=CEP imports type II Cepheids as CEP and keeps ogle_type T2CEP."""
    src = write_ogle_folder(tmp_path / "cat")
    import_ogle(src, tmp_path / "out", type_map={"T2CEP": "CEP"})
    curve = next(c for c in read_lightcurve_dir(tmp_path / "out") if "T2CEP" in c.object_id)
    assert (curve.label, curve.meta["ogle_type"]) == ("CEP", "T2CEP")


def test_ogle_type_map_to_unknown_class_is_an_error(tmp_path: Path) -> None:
    """Mapping to a label outside the five classes names the valid ones."""
    with pytest.raises(ImporterError, match="one of CEP, DSCT, ECL, LPV, RRLYR"):
        import_ogle(write_ogle_folder(tmp_path / "cat"), tmp_path / "out",
                    type_map={"T2CEP": "CEPH"})


def test_ogle_tar_bands_from_member_folders(tmp_path: Path) -> None:
    """A tar.gz with I/ and V/ members gives one curve per band, streamed from the archive."""
    names = ("I/OGLE-SMC-CEP-0001.dat", "V/OGLE-SMC-CEP-0001.dat", "README")
    archive = write_tar(tmp_path / "phot.tar.gz", dict.fromkeys(names, DAT))
    report = import_ogle(archive, tmp_path / "out")
    curves = read_lightcurve_dir(tmp_path / "out")
    assert sorted(c.band for c in curves) == ["I", "V"]
    assert report.skipped == {"not a .dat file": 1}
    np.testing.assert_array_equal(curves[0].time, [5261.55978, 5261.60142, 5300.1])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such file or directory"),
        (lambda p: (p / "x.txt").write_text("a") and p / "x.txt", "neither a .dat"),
        (lambda p: (p / "x.tar.gz").write_bytes(b"not a tar") and p / "x.tar.gz",
         "not a readable tar archive"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no .dat files"),
    ],
    ids=["missing", "wrong-suffix", "corrupt-tar", "empty-dir"],
)
def test_ogle_bad_source_is_one_clear_error(tmp_path: Path, make, message: str) -> None:
    """A missing, wrongly typed, corrupt or empty SRC raises ImporterError naming it."""
    src = make(tmp_path)
    with pytest.raises(ImporterError, match=message) as info:
        import_ogle(src, tmp_path / "out")
    assert str(src) in str(info.value) and "\n" not in str(info.value)


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    """Importing into a directory that holds an earlier import fails unless overwrite=True."""
    src = write_ogle_folder(tmp_path / "cat")
    import_ogle(src, tmp_path / "out")
    with pytest.raises(ImporterError, match="--overwrite"):
        import_ogle(src, tmp_path / "out")
    assert import_ogle(src, tmp_path / "out", overwrite=True).curves == 2


def write_eros_folder(root: Path, light_b: str = "[19.1, 19.2]") -> Path:
    root.mkdir()
    (root / "train.csv").write_text(
        "Unnamed: 0,period,type,quality,div_period\n"
        "1_1,2.0,3.0,1.0,4.0\n"
        "1_2,9.0,5.0,1.0,1.0\n"
        "1_3,6.0,1.0,2.0,2.0\n"
    )
    columns = ",time_points_b,time_points_r,light_points_b,light_points_r,error_points_b," \
              "error_points_r\n"
    rows = (
        f'1_1,"[1.0, 2.5]","[1.1, 2.6, 3.0]","{light_b}","[18.1, 18.2, 18.3]",'
        '"[0.1, 0.1]","[0.2, 0.2, 0.2]"\n'
        '1_2,"[1.0]","[1.0]","[1.0]","[1.0]","[0.1]","[0.1]"\n'
        '1_3,"[5.0, 6.0]","[]","[17.0, 17.5]","[]","[0.05, 0.05]","[]"\n'
    )
    with gzip.open(root / "train_varlength_features.csv.gz", "wt") as handle:
        handle.write(columns + rows)
    return root


def test_eros1_tiny_folder(tmp_path: Path) -> None:
    """Two bands per star, period / div_period, unknown type and empty band skipped."""
    report = import_eros1(write_eros_folder(tmp_path / "eros"), tmp_path / "out")
    curves = {(c.object_id, c.band): c for c in read_lightcurve_dir(tmp_path / "out")}
    assert sorted(curves) == [("1_1", "B_E"), ("1_1", "R_E"), ("1_3", "B_E")]
    assert curves[("1_1", "R_E")].mag.tolist() == [18.1, 18.2, 18.3]
    assert curves[("1_1", "B_E")].params == {"period": 0.5}
    assert curves[("1_3", "B_E")].label == "ECL" and curves[("1_3", "B_E")].meta == {"quality": 2}
    assert report.skipped["band R_E: no points"] == 1
    assert sum(n for r, n in report.skipped.items() if "type 5 is not" in r) == 1


def test_eros1_non_numeric_list_element_is_an_error(tmp_path: Path) -> None:
    """A non-number inside a list string names the file, the column and the token."""
    src = write_eros_folder(tmp_path / "eros", light_b="[19.1, oops]")
    with pytest.raises(ImporterError, match="light_points_b has a non-numeric list element"):
        import_eros1(src, tmp_path / "out")


def test_eros1_missing_files_is_an_error(tmp_path: Path) -> None:
    """A folder without train.csv says which file is missing."""
    (tmp_path / "eros").mkdir()
    with pytest.raises(ImporterError, match=r"no train\.csv"):
        import_eros1(tmp_path / "eros", tmp_path / "out")


def write_sdss_folder(root: Path) -> Path:
    root.mkdir()
    (root / "periods.csv").write_text("Num,Type,Per\n7,ab,0.5\n8,c,0.3\n")
    star = (b"time,mag,magerr,band\n1.0,17.0,0.01,g\n1.1,16.5,0.01,r\n2.0,17.2,0.02,g\n"
            b"2.1,99.99,99.999,r\n")
    write_tar(root / "light-curves.tar.gz",
              dict.fromkeys(("light-curves/7.csv", "light-curves/9.csv"), star))
    return root


def test_sdss_tiny_folder(tmp_path: Path) -> None:
    """Bands split per curve, sentinel rows dropped, stars without a type skipped."""
    report = import_sdss_rrlyr(write_sdss_folder(tmp_path / "sdss"), tmp_path / "out")
    curves = {c.band: c for c in read_lightcurve_dir(tmp_path / "out")}
    assert sorted(curves) == ["g", "r"]
    assert curves["g"].mag.tolist() == [17.0, 17.2] and curves["r"].time.tolist() == [1.1]
    assert report.dropped_points == {"no-data sentinel (magerr 99.999)": 1}
    assert report.skipped == {"star: not in periods.csv (no RR Lyrae type)": 1}
    assert any("1 stars of periods.csv have no light curve" in n for n in report.notes)


def test_sdss_not_a_folder_is_an_error(tmp_path: Path) -> None:
    """Giving the tar itself instead of its folder says what to give."""
    src = write_sdss_folder(tmp_path / "sdss") / "light-curves.tar.gz"
    with pytest.raises(ImporterError, match="not a directory; give the SDSS"):
        import_sdss_rrlyr(src, tmp_path / "out")


def test_ogle_output_is_sorted_and_verbatim_whatever_the_member_order(tmp_path: Path) -> None:
    """Manifest rows follow (object id, band), not tar order; each .dat is stored unchanged."""
    members = ("V/OGLE-SMC-CEP-0002.dat", "I/OGLE-SMC-CEP-0002.dat", "I/OGLE-SMC-CEP-0001.dat")
    archive = write_tar(tmp_path / "phot.tar", {
        name: DAT + f"5400.{i} 19.{i} 0.0{i + 1}\n".encode() for i, name in enumerate(members)})
    import_ogle(archive, tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")
    assert manifest.select("object_id", "band").rows() == [
        ("OGLE-SMC-CEP-0001", "I"), ("OGLE-SMC-CEP-0002", "I"), ("OGLE-SMC-CEP-0002", "V")]
    with tarfile.open(archive) as tar:
        for row in manifest.iter_rows(named=True):
            member = tar.extractfile(f"{row['band']}/{row['object_id']}.dat")
            assert member is not None
            assert (tmp_path / "out" / row["path"]).read_bytes() == member.read()


def test_cli_prints_counts(tmp_path: Path) -> None:
    """`training import ogle` prints per-label counts, skip reasons and the output path."""
    src = write_ogle_folder(tmp_path / "cat")
    result = CliRunner().invoke(app, ["import", "ogle", str(src), str(tmp_path / "out"),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "read 6 files" in text and "CEP │ 2 │ 2" in text
    assert "1 × OGLE type T2CEP" in text and f"wrote 2 curves to {tmp_path / 'out'}" in text


def test_cli_bad_source_prints_one_error_line(tmp_path: Path) -> None:
    """A missing SRC exits 2 with one `error:` line naming the path."""
    result = subprocess.run(
        [sys.executable, "-m", "training", "import", "eros1", str(tmp_path / "nope"),
         str(tmp_path / "out")], capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope" in lines[0]
