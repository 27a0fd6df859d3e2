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
    # The same recipe on other data is another model: the shipped model's rebuild with new
    # simulated sets once kept its predecessor's version.
    assert TrainingConfig().resolved_version(today="2026.12.07", data=["sets/a", "sim-b"]) \
        not in (a, TrainingConfig().resolved_version(today="2026.12.07", data=["sets/a"]))
    assert TrainingConfig().resolved_version(today="2026.12.07", data=["b", "a"]) == \
        TrainingConfig().resolved_version(today="2026.12.07", data=["a", "b"])


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


# --------------------------------------------------------------------------- config files


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.yaml", "epochs: [1,\n", r"c\.yaml: not valid YAML at line \d+, column \d+ .*fix"),
        ("c.json", '{"epochs": 3,}', r"c\.json: not valid JSON at line 1, column \d+ .*fix"),
        ("c.yaml", "- epochs\n", r"c\.yaml: expected a mapping of config keys .*got a list"),
        ("c.yaml", "epoch: 3\n", r"c\.yaml: unknown config key\(s\) \['epoch'\]; valid names"),
        ("c.yaml", "epochs: ten\n", r"c\.yaml: epochs: 'ten' is not an integer; write e\.g\. "
                                    r"epochs: 40"),
        ("c.yaml", "mixed_precision: maybe\n", r"mixed_precision: 'maybe' is not true or false"),
        ("c.yaml", "model_version: 1.10\n", r'model_version: 1\.1 is a number, not text; '
                                            r'quote it: model_version: "1\.1"'),
        ("c.yaml", "policy: best\n", r"c\.yaml: config policy='best' is not one of"),
    ],
)
def test_config_file_mistakes_name_the_file_the_key_and_the_fix(
    tmp_path, name: str, text: str, message: str
) -> None:
    """Every bad --config file is one TrainingConfigError naming the file (and the key and
    the fix where there is one), not a traceback deep in training."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TrainingConfigError, match=message):
        resolve_config(None, path)


def test_missing_config_file_names_it(tmp_path) -> None:
    """A path that does not exist is named, with the fix."""
    with pytest.raises(TrainingConfigError, match=r"absent\.yaml: cannot read .*check the path"):
        resolve_config(None, tmp_path / "absent.yaml")


def test_config_file_values_keep_their_meaning(tmp_path) -> None:
    """YAML 1.1 reads 1e-3 as text: a float field takes the number it means; an empty file
    changes nothing; a JSON file and a YAML file with the same keys give the same config."""
    (tmp_path / "a.yaml").write_text("learning_rate: 1e-3\ncadence_from: [x, y]\n")
    (tmp_path / "a.json").write_text('{"learning_rate": 0.001, "cadence_from": ["x", "y"]}')
    (tmp_path / "empty.yaml").write_text("")
    from_yaml = resolve_config(None, tmp_path / "a.yaml")
    assert from_yaml.learning_rate == 1e-3 and from_yaml.cadence_from == ["x", "y"]
    assert from_yaml == resolve_config(None, tmp_path / "a.json")
    assert resolve_config(None, tmp_path / "empty.yaml") == TrainingConfig()


def test_device_flag_is_the_config_device() -> None:
    """`--device` of train, experiment and tune is the config's `device`, after --set."""
    from training.config import resolve_config, with_device

    assert resolve_config("quick", None, with_device([], "cpu")).device == "cpu"
    assert resolve_config("quick", None, with_device(["device=cuda"], "cpu")).device == "cpu"
    assert resolve_config("quick", None, with_device([], None)).device == "auto"
