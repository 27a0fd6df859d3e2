"""The light-curve directory format: round trips, OGLE .dat files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from broker_plugin.lightcurve import LightCurve, LightCurveError
from broker_plugin.lightcurve_dir import (
    LightCurveDirError,
    read_lightcurve_dir,
    write_lightcurve_dir,
)


def make_curves(n: int = 5) -> list[LightCurve]:
    rng = np.random.default_rng(0)
    return [
        LightCurve(
            f"star-{i}", np.sort(rng.uniform(0, 1000, 20 + i)), rng.normal(15, 0.3, 20 + i),
            rng.uniform(0.01, 0.05, 20 + i), band="I", label=["CEP", "RRLYR"][i % 2],
            survey="test", params={"period": 1.5 + i, "teff": 6000.0}, meta={"subclass": "F"},
        )
        for i in range(n)
    ]


def test_round_trip_is_exact(tmp_path: Path) -> None:
    """Written curves read back bit for bit, with labels, params and extra columns."""
    curves = make_curves()
    write_lightcurve_dir(tmp_path, curves)
    back = read_lightcurve_dir(tmp_path)
    assert [c.object_id for c in back] == [c.object_id for c in curves]
    for a, b in zip(curves, back, strict=True):
        np.testing.assert_array_equal(a.time, b.time)
        np.testing.assert_array_equal(a.mag, b.mag)
        np.testing.assert_array_equal(a.err, b.err)
        assert (b.label, b.band, b.survey) == (a.label, a.band, a.survey)
        assert b.params == a.params
        assert b.meta["subclass"] == "F"


def test_reads_ogle_dat_and_filters_labels(tmp_path: Path) -> None:
    """OGLE .dat (whitespace, no header) is read; the label filter keeps only those asked."""
    dat = "2101.5  15.10  0.010\n2102.5   15.20 0.020\n2103.5 15.3 0.03\n"
    (tmp_path / "a.dat").write_text(dat)
    (tmp_path / "b.csv").write_text("mag,time,err,band\n15,1,0.1,g\n16,2,0.1,g\n")
    (tmp_path / "manifest.csv").write_text("path,object_id,label\na.dat,A,CEP\nb.csv,B,LPV\n")
    (a,) = read_lightcurve_dir(tmp_path, labels=["CEP"])
    np.testing.assert_array_equal(a.time, [2101.5, 2102.5, 2103.5])
    np.testing.assert_array_equal(a.err, [0.01, 0.02, 0.03])
    _, b = read_lightcurve_dir(tmp_path)
    np.testing.assert_array_equal(b.time, [1, 2])  # columns found by header name
    np.testing.assert_array_equal(b.mag, [15, 16])


@pytest.mark.parametrize(
    ("manifest", "files", "message"),
    [
        (None, {}, "no manifest.csv"),
        ("object_id\nA\n", {}, "missing column"),
        ("path,object_id\nnope.csv,A\n", {}, "nope.csv: cannot read"),
        ("path,object_id\na.csv,A\n", {"a.csv": "time,mag,err\n1,x,3\n"}, "a.csv: non-numeric"),
        ("path,object_id\na.csv,A\n", {"a.csv": "time,flux,err\n1,2,3\n"}, "lacks one of"),
        ("path,object_id\na.dat,A\n", {"a.dat": "1 2 3\n4 5\n"}, "a.dat: rows have"),
        ("path,object_id\na.dat,A\n", {"a.dat": "1 2\n"}, "column"),
    ],
)
def test_errors_name_the_file(tmp_path: Path, manifest, files, message: str) -> None:
    """Each broken directory gives a LightCurveDirError naming what and where."""
    if manifest is not None:
        (tmp_path / "manifest.csv").write_text(manifest)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(LightCurveDirError, match=message):
        read_lightcurve_dir(tmp_path)


def test_lightcurve_rejects_mismatched_arrays() -> None:
    """Arrays of different lengths are refused with the object id in the message."""
    with pytest.raises(LightCurveError, match="star-1"):
        LightCurve("star-1", np.arange(3.0), np.arange(2.0), np.arange(3.0))
