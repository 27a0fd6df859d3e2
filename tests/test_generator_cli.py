"""The generator commands end to end on simulated curves: fit, synthesize, plot."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker_plugin.errors import UserError
from broker_plugin.lightcurve_dir import read_lightcurve_dir, write_lightcurve_dir
from training.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def generator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.simulator import simulate_curves

    root = tmp_path_factory.mktemp("gen")
    write_lightcurve_dir(root / "data", simulate_curves(8, cadence="ogle", seed=0))
    result = runner.invoke(app, [
        "fit-generator", "--data", str(root / "data"), "--out", str(root / "g"),
        "--preset", "quick", "--epochs", "2", "--n-phase", "16", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert "regressor held-out R²" in result.output
    return root / "g"


def test_fit_generator_writes_weights_config_and_summary(generator_dir: Path) -> None:
    """The directory holds the weights, the resolved config (preset, then the single
    options) and the fit summary."""
    import json

    for name in ("config.json", "vae.pt", "mixtures.npz", "references.npz",
                 "regressor.joblib", "summary.json"):
        assert (generator_dir / name).is_file(), name
    config = json.loads((generator_dir / "config.json").read_text())
    assert config["config"]["epochs"] == 2 and config["config"]["n_phase"] == 16
    assert config["config"]["vae_max_per_class"] == 150 and config["config"]["hidden"] == 16
    summary = json.loads((generator_dir / "summary.json").read_text())
    assert summary["per_class"] == {c: 8 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}


def test_synthesize_writes_a_labelled_lightcurve_directory(
    generator_dir: Path, tmp_path: Path
) -> None:
    """Manifest rows carry labels and the six sampled parameters."""
    result = runner.invoke(app, [
        "synthesize", "--generator", str(generator_dir), "--n-per-class", "2",
        "--b", "0.5", "--out", str(tmp_path / "syn"), "--classes", "RRLYR,ECL",
    ])
    assert result.exit_code == 0, result.output
    curves = read_lightcurve_dir(tmp_path / "syn")
    assert sorted(c.label for c in curves) == ["ECL", "ECL", "RRLYR", "RRLYR"]
    assert all(len(c.params) == 6 and len(c) > 10 for c in curves)


def test_plot_synthetic_writes_a_png(generator_dir: Path, tmp_path: Path) -> None:
    """The Figure-5 PNG is written and is a real PNG."""
    out = tmp_path / "fig.png"
    result = runner.invoke(app, [
        "plot-synthetic", "--generator", str(generator_dir), "--out", str(out),
        "--classes", "CEP,LPV",
    ])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_class_option_is_a_user_error(generator_dir: Path, tmp_path: Path) -> None:
    """--classes with an unknown name raises a UserError listing the known classes."""
    result = runner.invoke(app, [
        "synthesize", "--generator", str(generator_dir), "--n-per-class", "1",
        "--out", str(tmp_path / "x"), "--classes", "NOPE",
    ])
    assert isinstance(result.exception, UserError)
    assert "knows" in str(result.exception)


def test_unknown_preset_is_a_user_error(tmp_path: Path) -> None:
    """--preset with an unknown name is a UserError listing the presets, before reading data."""
    result = runner.invoke(app, [
        "fit-generator", "--data", str(tmp_path), "--out", str(tmp_path / "g"),
        "--preset", "fastest",
    ])
    assert isinstance(result.exception, UserError)
    assert "fastest" in str(result.exception) and "quick" in str(result.exception)
