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
