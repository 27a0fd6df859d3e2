"""TrainingConfig: presets, files and --set overrides resolve in order; mistakes are one line."""

from __future__ import annotations

import pytest
import yaml

from training.config import TrainingConfig, TrainingConfigError, resolve_config


def test_overrides_win_over_file_and_preset(tmp_path) -> None:
    """Defaults → preset → file → --set, later wins; values typed by the field."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"epochs": 7, "nu": 0.5}))
    config = resolve_config("quick", path, ["epochs=3", "mixed_precision=false"])
    assert (config.epochs, config.nu, config.mixed_precision) == (3, 0.5, False)
    assert config.synthetic_every == 2  # from the quick preset


def test_unknown_key_lists_valid_keys() -> None:
    """A typo in --set names the key and lists the valid ones."""
    with pytest.raises(TrainingConfigError, match="valid keys"):
        resolve_config(None, None, ["epoch=3"])


def test_bad_choice_is_rejected() -> None:
    """An unknown policy is refused with the allowed values."""
    with pytest.raises(TrainingConfigError, match="no_priority"):
        resolve_config(None, None, ["policy=best"])


def test_saved_config_round_trips(tmp_path) -> None:
    """RUN/config.yaml read back with --config reproduces the same config."""
    config = resolve_config("paper", None, ["seed=4"])
    path = config.save(tmp_path)
    assert resolve_config(None, path) == config
    assert isinstance(config, TrainingConfig)


def test_ensemble_size_must_be_positive() -> None:
    """ensemble_members=0 names the key and the range."""
    with pytest.raises(TrainingConfigError, match="ensemble_members=0"):
        resolve_config(None, None, ["ensemble_members=0"])


def test_model_version_defaults_to_date_and_config_hash() -> None:
    """No version given: the date and a hash of the recipe; another recipe, another hash; a
    version given is kept as is."""
    from training.config import TrainingConfig

    a = TrainingConfig().resolved_version(today="2026.12.07")
    b = TrainingConfig(epochs=3).resolved_version(today="2026.12.07")
    assert a.startswith("2026.12.07+") and len(a) == len("2026.12.07+") + 8
    assert a != b and a == TrainingConfig().resolved_version(today="2026.12.07")
    assert TrainingConfig(model_version="1.2.3").resolved_version() == "1.2.3"


def test_cli_model_version_reaches_the_card(tmp_path) -> None:
    """`training train --model-version X` puts X in the card that serving reads."""
    from typer.testing import CliRunner

    from broker_plugin.lightcurve_dir import write_lightcurve_dir
    from broker_plugin.model_card import load_model_dir
    from tests.test_training_loop import fake_curves
    from training.cli import app

    write_lightcurve_dir(tmp_path / "data", fake_curves(12, seed=2))
    result = CliRunner().invoke(app, [
        "train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--mode",
        "one-loss", "--quiet", "--set", "epochs=1", "--set", "n_blocks=2",
        "--model-version", "2027.01.02-rc1"])
    assert result.exit_code == 0, result.output
    assert load_model_dir(tmp_path / "run")[1].version == "2027.01.02-rc1"
