"""The light-curve directory format: round trips, OGLE .dat files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from broker_plugin.lightcurve import LightCurve, LightCurveError
from broker_plugin.lightcurve_dir import (
    LightCurveDirError,
    LightCurveDirWriter,
    read_lightcurve_dir,
    read_manifest,
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


def curve(object_id: str, band: str | None = "g", n: int = 4, **fields) -> LightCurve:
    t = np.arange(n, dtype=float)
    return LightCurve(object_id, t, 15 + t / 10, np.full(n, 0.01), band=band, **fields)


def test_writer_round_trips_across_flushes(tmp_path: Path) -> None:
    """Curves formatted in several batches (and an empty one) read back bit for bit."""
    rng = np.random.default_rng(1)
    curves = [
        LightCurve(f"s{i}", rng.uniform(0, 3000, n), rng.normal(17, 2, n), rng.uniform(0, 1, n),
                   band="g", label="ECL", params={"period": rng.uniform(0.1, 900)})
        for i, n in enumerate([30, 0, 41, 7, 120])
    ]
    with LightCurveDirWriter(tmp_path, flush_points=50) as writer:
        writer.write(curves)
    for a, b in zip(curves, read_lightcurve_dir(tmp_path), strict=True):
        assert a.object_id == b.object_id and a.params == b.params
        for name in ("time", "mag", "err"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_special_floats_round_trip_bit_for_bit(tmp_path: Path) -> None:
    """NaN, infinities, -0.0, subnormals and 17-digit values come back as the same bits."""
    values = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 0.1 + 0.2, 1e22, 2101.5])
    write_lightcurve_dir(tmp_path, [LightCurve("x", values, values[::-1], values)])
    (back,) = read_lightcurve_dir(tmp_path)
    assert back.time.tobytes() == values.tobytes()
    assert back.mag.tobytes() == values[::-1].tobytes()


def test_files_are_written_before_close(tmp_path: Path) -> None:
    """Streaming: once `flush_points` points are pending they are on disk, not in memory."""
    writer = LightCurveDirWriter(tmp_path, flush_points=10)
    first = writer.add(curve("a", n=6))
    assert not (tmp_path / first).exists()
    writer.add(curve("b", n=6))
    assert (tmp_path / first).is_file() and not (tmp_path / "manifest.csv").exists()


def test_original_bytes_are_stored_verbatim(tmp_path: Path) -> None:
    """An original survey file is stored byte for byte with its suffix and reads back."""
    raw = b"2101.5  15.10  0.010\n2102.5   15.20 0.020\n"
    with LightCurveDirWriter(tmp_path) as writer:
        path = writer.add(curve("OGLE-1", band="I", n=2), original=raw, original_suffix=".dat")
    assert path == "lc/OGLE-1_I.dat" and (tmp_path / path).read_bytes() == raw
    (back,) = read_lightcurve_dir(tmp_path)
    np.testing.assert_array_equal(back.err, [0.01, 0.02])


def test_manifest_column_order_and_empty_columns(tmp_path: Path) -> None:
    """Standard columns first, then meta in first-seen order; all-empty optionals left out."""
    with LightCurveDirWriter(tmp_path) as writer:
        writer.add(curve("a", label="CEP", params={"logg": 2.0}, meta={"z": 1, "unused": None}))
        writer.add(curve("b", params={"period": 3.0}, meta={"y": "s", "z": 2}))
    manifest = read_manifest(tmp_path)
    assert manifest.columns == ["path", "object_id", "label", "band", "period", "logg", "z", "y"]
    assert manifest["period"].dtype == pl.Float64 and manifest["y"].to_list() == [None, "s"]


def test_sorted_manifest_and_names_do_not_depend_on_arrival_order(tmp_path: Path) -> None:
    """With sort_manifest, rows follow (object id, band) and each file keeps its name."""
    arrivals = [curve("b", "r"), curve("a", "r"), curve("b", "g"), curve("a", None)]
    tables = []
    for name, order in (("x", arrivals), ("y", arrivals[::-1])):
        with LightCurveDirWriter(tmp_path / name, sort_manifest=True) as writer:
            writer.write(order)
        tables.append(read_manifest(tmp_path / name).select("path", "object_id", "band"))
    assert tables[0].equals(tables[1])
    assert tables[0]["path"].to_list() == ["lc/a.csv", "lc/a_r.csv", "lc/b_g.csv", "lc/b_r.csv"]


def test_clashing_names_get_distinct_files(tmp_path: Path) -> None:
    """Ids equal after making them file-safe, or differing only in case, never overwrite."""
    curves = [curve("a b"), curve("a/b"), curve("A-B"), curve("a b")]
    write_lightcurve_dir(tmp_path, curves)
    paths = read_manifest(tmp_path)["path"].to_list()
    assert len({p.lower() for p in paths}) == 4
    assert [c.object_id for c in read_lightcurve_dir(tmp_path)] == ["a b", "a/b", "A-B", "a b"]


def test_defaults_fill_only_empty_cells(tmp_path: Path) -> None:
    """`close(defaults=...)` fills a column's missing values and keeps the given ones."""
    writer = LightCurveDirWriter(tmp_path)
    writer.write([curve("a", survey="OGLE-II"), curve("b")])
    writer.close(defaults={"survey": "OGLE-III", "release": "v1"})
    manifest = read_manifest(tmp_path)
    assert manifest["survey"].to_list() == ["OGLE-II", "OGLE-III"]
    assert manifest["release"].to_list() == ["v1", "v1"]


def test_no_manifest_after_an_error(tmp_path: Path) -> None:
    """Leaving the context by an exception writes no manifest: the directory is unfinished."""
    with pytest.raises(RuntimeError), LightCurveDirWriter(tmp_path) as writer:
        writer.add(curve("a"))
        raise RuntimeError("source broke")
    assert not (tmp_path / "manifest.csv").exists()


def test_decimals_round_what_is_stored(tmp_path: Path) -> None:
    """`decimals` stores short text, read back as exactly the rounded values."""
    t = np.array([2101.123456789, 2102.987654321])
    with LightCurveDirWriter(tmp_path, decimals=(6, 5, 5)) as writer:
        path = writer.add(LightCurve("a", t, t / 100, t / 1e5))
    assert (tmp_path / path).read_text().splitlines()[1] == "2101.123457,21.01123,0.02101"
    (back,) = read_lightcurve_dir(tmp_path)
    np.testing.assert_array_equal(back.time, np.round(t, 6))


def test_meta_shadowing_a_manifest_column_is_refused(tmp_path: Path) -> None:
    """A meta key named like a manifest column would corrupt the row: it is an error."""
    with pytest.raises(ValueError, match="'path'"):
        LightCurveDirWriter(tmp_path).add(curve("a", meta={"path": "elsewhere.csv"}))
