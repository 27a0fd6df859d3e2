"""GeneratorConfig: validation, the β schedule, and round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker_plugin.errors import UserError
from training.generator import GeneratorConfig


def test_stepped_beta_rises_in_steps_to_beta() -> None:
    """With the step schedule β climbs in beta_steps equal steps, then stays at β."""
    config = GeneratorConfig(epochs=40, beta=0.01, beta_schedule="step", beta_steps=4)
    values = [config.beta_at(e) for e in range(40)]
    assert values[0] == pytest.approx(0.0025)
    assert values[-1] == pytest.approx(0.01)
    assert sorted(set(values)) == pytest.approx([0.0025, 0.005, 0.0075, 0.01])
    assert values == sorted(values)


def test_constant_beta_is_constant() -> None:
    """The default schedule keeps β fixed."""
    config = GeneratorConfig(beta=0.02)
    assert {config.beta_at(e) for e in range(config.epochs)} == {0.02}


def test_unknown_setting_names_the_valid_ones(tmp_path: Path) -> None:
    """A typo in a config file is a one-line UserError naming the file's bad key."""
    path = tmp_path / "gen.json"
    path.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(UserError, match=r"unknown generator setting\(s\) \['epoch'\]"):
        GeneratorConfig.from_json(path)


def test_bad_values_are_rejected() -> None:
    """Non-positive sizes and an unknown β schedule are UserErrors naming the field."""
    with pytest.raises(UserError, match="'latent_dim'"):
        GeneratorConfig(latent_dim=0)
    with pytest.raises(UserError, match="'beta_schedule'"):
        GeneratorConfig(beta_schedule="cyclic")


def test_dict_round_trip() -> None:
    """to_dict / from_dict give back an equal config."""
    config = GeneratorConfig(epochs=3, n_phase=20, beta_schedule="step")
    assert GeneratorConfig.from_dict(config.to_dict()) == config


def test_presets_differ_where_documented_and_accept_overrides() -> None:
    """quick is smaller and capped, paper uses 2 x 300 phase points, default is the
    dataclass; overrides win over the preset."""
    quick, paper = GeneratorConfig.quick(seed=3), GeneratorConfig.preset("paper")
    assert GeneratorConfig.preset("default") == GeneratorConfig()
    assert quick.vae_max_per_class > 0 and quick.early_stopping_patience > 0
    assert quick.hidden < GeneratorConfig().hidden and quick.seed == 3
    assert (paper.cycles, paper.n_phase) == (2, 300)
    with pytest.raises(UserError, match="choose one of"):
        GeneratorConfig.preset("fastest")


def test_config_file_overrides_only_its_keys_of_the_preset(tmp_path: Path) -> None:
    """A file naming `epochs` over the quick preset keeps quick's other fields."""
    path = tmp_path / "gen.json"
    path.write_text(json.dumps({"epochs": 7}))
    config = GeneratorConfig.from_json(path, preset="quick")
    assert config == GeneratorConfig.quick(epochs=7)


def test_negative_caps_are_rejected() -> None:
    """Caps and patience accept 0 (off) but not negative values; windows are named."""
    assert GeneratorConfig(vae_max_per_class=0, early_stopping_patience=0).vae_max_per_class == 0
    with pytest.raises(UserError, match="'vae_max_per_class'"):
        GeneratorConfig(vae_max_per_class=-1)
    with pytest.raises(UserError, match="'cadence_window'"):
        GeneratorConfig(cadence_window="uniform")


def test_generator_and_training_configs_share_one_file_reader(tmp_path: Path) -> None:
    """GeneratorConfig reads YAML as well as JSON through training.config_files, and its
    mistakes read like TrainingConfig's: the file, the key, the fix."""
    import training.config_files as config_files

    (tmp_path / "gen.yaml").write_text("epochs: 7\nlearning_rate: 2e-3\n")
    assert GeneratorConfig.from_file(tmp_path / "gen.yaml", preset="quick") == (
        GeneratorConfig.quick(epochs=7, learning_rate=2e-3))
    bad = tmp_path / "bad.yaml"
    bad.write_text("latent_dim: four\n")
    with pytest.raises(UserError, match=r"bad\.yaml: latent_dim: 'four' is not an integer; "
                                        r"write e\.g\. latent_dim: 4"):
        GeneratorConfig.from_file(bad)
    bad.write_text("latent_dim: 0\n")
    with pytest.raises(UserError, match=r"bad\.yaml: generator config 'latent_dim' must be"):
        GeneratorConfig.from_file(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(UserError, match=r"broken\.json: not valid JSON at line 1"):
        GeneratorConfig.from_json(broken)
    with pytest.raises(UserError, match="choose one of"):
        GeneratorConfig.from_file(tmp_path / "gen.yaml", preset="fastest")
    assert GeneratorConfig.from_json == GeneratorConfig.from_file
    # one reader: neither config module parses files itself
    for module in ("training/config.py", "training/generator/config.py"):
        source = (Path(config_files.__file__).parents[1] / module).read_text()
        assert "safe_load" not in source and "json.loads" not in source, module
