"""The simulator's commands: simulate, make-split, plot-curves."""

from __future__ import annotations

import polars as pl
from typer.testing import CliRunner

from broker_plugin.lightcurve import PHYSICAL_PARAMETERS
from broker_plugin.lightcurve_dir import read_lightcurve_dir
from training.cli import app

runner = CliRunner()


def test_simulate_writes_a_light_curve_directory(tmp_path) -> None:
    """The manifest holds label, band, survey, six parameters, subclass and amplitude."""
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--n-per-class", "3",
                                 "--cadence", "sparse", "--seed", "2"])
    assert result.exit_code == 0, result.output
    manifest = pl.read_csv(out / "manifest.csv")
    wanted = {"label", "band", "survey", "subclass", "amplitude", *PHYSICAL_PARAMETERS}
    assert wanted <= set(manifest.columns) and manifest.height == 15
    curves = read_lightcurve_dir(out)
    assert {c.label for c in curves} == {"CEP", "DSCT", "ECL", "LPV", "RRLYR"}


def test_make_split_and_plot(tmp_path) -> None:
    """make-split prints the class table and writes train/test; plot-curves writes a PNG."""
    data = tmp_path / "sim"
    runner.invoke(app, ["simulate", "--out", str(data), "--n-per-class", "12"])
    result = runner.invoke(app, ["make-split", "--data", str(data), "--scenario", "rrlyr",
                                 "--trees", "25", "--out", str(tmp_path / "split")])
    assert result.exit_code == 0, result.output
    assert "RRLYR" in result.output and "Mann-Whitney" in result.output
    assert (tmp_path / "split" / "test" / "manifest.csv").is_file()
    png = tmp_path / "grid.png"
    result = runner.invoke(app, ["plot-curves", str(data), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_scenario_is_one_line_error(tmp_path) -> None:
    """A wrong --scenario names the choices."""
    result = runner.invoke(app, ["make-split", "--data", str(tmp_path), "--scenario", "x",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "rrlyr, multiclass" in str(result.exception)
