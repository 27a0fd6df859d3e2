"""What `broker-plugin run ARGS` builds, stopped before any Kafka work (shared by tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker_plugin.serving.config import ServingConfig


def config_built_by_run(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str]
) -> ServingConfig:
    """The ServingConfig `broker-plugin run ARGS` builds (stopped before any Kafka work);
    what run raises instead (a ConfigError for a bad option) is raised here."""
    import broker_plugin.cli as cli

    built: list[ServingConfig] = []

    class StopError(Exception):
        pass

    def fake_make_pipeline(*a: object, **k: object) -> None:
        raise StopError

    monkeypatch.setattr("broker_plugin.serving.service.make_pipeline", fake_make_pipeline)
    original = ServingConfig.__post_init__

    def spy(self: ServingConfig) -> None:
        original(self)
        built.append(self)

    monkeypatch.setattr(ServingConfig, "__post_init__", spy)
    base = {
        "BROKER_PLUGIN_BOOTSTRAP_SERVERS": "x:1",
        "BROKER_PLUGIN_INPUT_TOPIC": "a",
        "BROKER_PLUGIN_OUTPUT_TOPIC": "b",
        "BROKER_PLUGIN_DLQ_TOPIC": "c",
        "BROKER_PLUGIN_GROUP_ID": "g",
        "BROKER_PLUGIN_MODEL": str(model_dir),
        "BROKER_PLUGIN_SURVEY": "compact",
    }
    result = CliRunner().invoke(cli.app, ["run", *args], env={**base, **env})
    if not isinstance(result.exception, StopError):  # e.g. the ConfigError a test expects
        raise result.exception or AssertionError(f"run did not build a config: {result.output}")
    return built[0]


def serving_config(**changes: object) -> ServingConfig:
    """A valid ServingConfig for unit tests (no Kafka contacted), with `changes` applied."""
    base: dict[str, object] = {
        "bootstrap_servers": "localhost:9092",
        "input_topics": ["alerts"],
        "output_topic": "out",
        "dlq_topic": "dlq",
        "group_id": "g",
        "model_dir": Path("run"),
        "schema_dir": Path("schemas"),
    }
    base.update(changes)
    return ServingConfig(**base)  # type: ignore[arg-type]
