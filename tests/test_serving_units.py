"""Unit tests of the serving parts that need neither Kafka nor the decoder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import KafkaError

from broker_plugin.model_card import ModelCardError
from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.combine import combine_bands
from broker_plugin.serving.config import (
    ConfigError,
    ServingConfig,
    mask_secrets,
    parse_kafka_settings,
    split_topics,
)
from broker_plugin.serving.dlq import dead_letter_headers, read_dead_letter_headers
from broker_plugin.serving.kafka_errors import is_transient
from broker_plugin.serving.output import OutputSerializer
from devtools.loopback import free_port
from devtools.model_fixture import write_fixture_model
from tests.run_config import config_built_by_run as _cli_config
from tests.run_config import serving_config as _config


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture_model(tmp_path_factory.mktemp("model"))


def test_consumer_settings_turn_auto_commit_and_offset_store_off() -> None:
    """At-least-once depends on both auto-commit and auto offset-store being off."""
    settings = _config().consumer_settings()
    assert settings["enable.auto.commit"] is False
    assert settings["enable.auto.offset.store"] is False
    assert settings["partition.assignment.strategy"] == "cooperative-sticky"


def test_exactly_once_adds_a_transactional_id_and_read_committed() -> None:
    """--exactly-once configures a transactional producer and a read_committed consumer."""
    config = _config(exactly_once=True)
    assert config.producer_settings()["transactional.id"] == "g-txn"
    assert config.consumer_settings()["isolation.level"] == "read_committed"


def test_passthrough_settings_go_to_the_right_client() -> None:
    """A producer-only key does not reach the consumer and the reverse."""
    config = _config(kafka_settings={"linger.ms": "50", "fetch.min.bytes": "10"})
    assert "linger.ms" not in config.consumer_settings()
    assert config.producer_settings()["linger.ms"] == "50"
    assert "fetch.min.bytes" not in config.producer_settings()


def test_secrets_are_masked_in_the_startup_description() -> None:
    """sasl.password and ssl key passwords never appear in the logged config."""
    config = _config(
        kafka_settings={"sasl.password": "hunter2", "ssl.key.password": "pw2", "sasl.username": "u"}
    )
    text = repr(config.describe())
    assert "hunter2" not in text and "pw2" not in text
    assert mask_secrets({"sasl.username": "u"})["sasl.username"] == "u"


def test_bad_passthrough_setting_is_a_user_error_without_the_secret() -> None:
    """A malformed -X value is reported as one line that does not echo a password."""
    with pytest.raises(ConfigError, match="key=value"):
        parse_kafka_settings(["security.protocol"])
    with pytest.raises(ConfigError) as info:
        parse_kafka_settings(["Sasl.Password=hunter2"])
    assert "hunter2" not in str(info.value)


def test_topics_split_on_commas_and_spaces() -> None:
    """An env var holds several topics in one string."""
    assert split_topics(["a,b", "c d", "a"]) == ["a", "b", "c", "d"]


def test_output_topic_equal_to_input_is_refused() -> None:
    """Consuming our own output would loop forever."""
    with pytest.raises(ConfigError, match="both input and output"):
        _config(output_topic="alerts")


def test_environment_booleans_parse_false_as_false(model_dir: Path, monkeypatch) -> None:
    """BROKER_PLUGIN_EXACTLY_ONCE=false means off (not bool('false')); true means on."""
    off = _cli_config(model_dir, monkeypatch, [], {"BROKER_PLUGIN_EXACTLY_ONCE": "false"})
    on = _cli_config(model_dir, monkeypatch, [], {"BROKER_PLUGIN_EXACTLY_ONCE": "true"})
    assert off.exactly_once is False and on.exactly_once is True


def test_single_band_passes_through_combination_unchanged() -> None:
    """With one band the combined answer is that band's distribution."""
    p = np.array([[0.1, 0.2, 0.3, 0.2, 0.2]])
    out = combine_bands(p, np.array([10]), np.array([0]), 1)
    np.testing.assert_allclose(out[0], p[0], rtol=1e-12)


def test_combination_is_points_weighted_geometric_mean() -> None:
    """Two bands combine as softmax of the points-weighted mean log-probability."""
    p = np.array([[0.7, 0.3], [0.2, 0.8]])
    out = combine_bands(p, np.array([30, 10]), np.array([0, 0]), 2)
    expected = np.exp(0.75 * np.log(p[0]) + 0.25 * np.log(p[1]))
    np.testing.assert_allclose(out[0], expected / expected.sum(), rtol=1e-12)
    assert np.isnan(out[1]).all()


def test_dead_letter_headers_round_trip_and_keep_the_originals() -> None:
    """Reason, schema id and origin come back from the headers; input headers are kept."""
    headers = dead_letter_headers(
        "bad_magic", "first byte 0x7b", None, "alerts", 3, 42, original=[("trace", b"t1")]
    )
    assert headers[0] == ("trace", b"t1")
    read = read_dead_letter_headers(headers)
    assert read["reason"] == "bad_magic"
    assert (read["origin.topic"], read["origin.partition"], read["origin.offset"]) == (
        "alerts",
        "3",
        "42",
    )
    assert read["schema_id"] == ""


def test_transient_and_fatal_errors_are_told_apart() -> None:
    """Broker-down is ridden out; an unknown code and a fatal error are not."""
    assert is_transient(KafkaError(KafkaError._ALL_BROKERS_DOWN))
    assert not is_transient(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert not is_transient(KafkaError(KafkaError._TRANSPORT, fatal=True))


def test_signals_stop_the_loop_and_the_old_handlers_come_back() -> None:
    """In the main thread SIGTERM calls stop("SIGTERM") (no exit); afterwards the handler in
    place before is back. Off the main thread nothing is installed (Python forbids it)."""
    import os
    import signal
    import threading

    from broker_plugin.serving.stop_signals import stop_on_signals

    before = signal.getsignal(signal.SIGTERM)
    stopped: list[str] = []
    with stop_on_signals(stopped.append):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.getsignal(signal.SIGTERM)  # the handler has run by the next bytecode
    assert stopped == ["SIGTERM"]
    assert signal.getsignal(signal.SIGTERM) is before

    seen: list[object] = []

    def elsewhere() -> None:
        with stop_on_signals(stopped.append):
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGINT)]


def test_classifier_rows_sum_to_one(model_dir: Path) -> None:
    """The fixture model honours the contract: (N, 5) probabilities summing to 1."""
    classifier = Classifier(model_dir)
    x = np.random.default_rng(0).normal(size=(7, 2, 300)).astype(np.float32)
    p = classifier.predict(x, chunk=3)
    assert p.shape == (7, 5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert np.ptp(p[:, 0]) > 1e-3  # different inputs, different answers


def test_classifier_refuses_a_model_whose_hash_differs(tmp_path: Path) -> None:
    """A replaced model.onnx is caught by the card's sha256."""
    directory = write_fixture_model(tmp_path / "m")
    (directory / "model.onnx").write_bytes((directory / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(ModelCardError, match="sha256"):
        Classifier(directory)


def test_avro_output_is_wire_framed_and_round_trips() -> None:
    """Avro output starts with magic 0 and the schema id, and reads back to the record."""
    schema = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "a", "type": "string"}, {"name": "p", "type": "double"}],
    }
    serializer = OutputSerializer("avro", schema, schema_id=77)
    data = serializer.serialize({"a": "x", "p": 0.5})
    assert data[:5] == b"\x00\x00\x00\x00\x4d"
    assert serializer.deserialize(data) == {"a": "x", "p": 0.5}


# --------------------------------------------------------------------------- monitoring wiring


def test_metrics_are_on_by_default_on_the_chart_port(model_dir: Path, monkeypatch) -> None:
    """Without options the plugin serves metrics on DEFAULT_METRICS_PORT (9108)."""
    from broker_plugin.http_server import DEFAULT_METRICS_PORT

    config = _cli_config(model_dir, monkeypatch, [], {})
    assert config.metrics_enabled and config.metrics_port == DEFAULT_METRICS_PORT == 9108


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--no-metrics"], {}),
        (["--metrics-port", "0"], {}),
        ([], {"BROKER_PLUGIN_METRICS": "false"}),
    ],
)
def test_metrics_can_be_turned_off(model_dir: Path, monkeypatch, args, env) -> None:
    """--no-metrics, --metrics-port 0 and BROKER_PLUGIN_METRICS=false all disable the port."""
    from broker_plugin.serving.service import make_observer

    config = _cli_config(model_dir, monkeypatch, args, env)
    assert not config.metrics_enabled
    assert make_observer(object(), config) == (None, None)  # type: ignore[arg-type]


def test_drift_and_lag_options_come_from_cli_and_environment(model_dir: Path, monkeypatch) -> None:
    """Drift window, min window, thresholds and lag interval reach the config (CLI or env)."""
    config = _cli_config(
        model_dir,
        monkeypatch,
        ["--drift-window", "300", "--drift-psi-threshold", "0.4", "--lag-interval", "2.5"],
        {
            "BROKER_PLUGIN_DRIFT_MIN_WINDOW": "50",
            "BROKER_PLUGIN_DRIFT_KS_THRESHOLD": "0.3",
            "BROKER_PLUGIN_DRIFT_JS_THRESHOLD": "0.05",
        },
    )
    assert (config.drift_window, config.drift_min_window, config.lag_interval_s) == (300, 50, 2.5)
    assert config.drift_thresholds.to_dict() == {"psi": 0.4, "ks": 0.3, "js": 0.05}


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"drift_window": 0}, "--drift-window"),
        ({"drift_ks_threshold": 0.0}, "--drift-ks-threshold"),
        ({"lag_interval_s": -1.0}, "--lag-interval"),
        ({"metrics_port": 70000}, "--metrics-port"),
    ],
)
def test_bad_monitoring_options_name_the_option(changes: dict, option: str) -> None:
    """Impossible monitoring settings are one-line user errors naming the option."""
    with pytest.raises(ConfigError, match=option):
        _config(**changes)


def test_busy_metrics_port_is_a_user_error(model_dir: Path) -> None:
    """A port already bound gives a ConfigError that names the port and the way out."""
    import socket

    from broker_plugin.serving.service import make_observer

    class Pipeline:
        card = Classifier(model_dir).card

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"--metrics-port {port}.*--no-metrics"):
            make_observer(Pipeline(), _config(metrics_port=port))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- option declarations

#: Every flag of `broker-plugin run` and its variable, as the chart, README, scripts/demo and
#: users' deployments spell them: generated from the declarations, they must not drift.
RUN_FLAGS = {
    "--bootstrap-servers": "BROKER_PLUGIN_BOOTSTRAP_SERVERS",
    "--input-topic": "BROKER_PLUGIN_INPUT_TOPIC",
    "--output-topic": "BROKER_PLUGIN_OUTPUT_TOPIC",
    "--dlq-topic": "BROKER_PLUGIN_DLQ_TOPIC",
    "--group-id": "BROKER_PLUGIN_GROUP_ID",
    "--model": "BROKER_PLUGIN_MODEL",
    "--schema-registry-url": "BROKER_PLUGIN_SCHEMA_REGISTRY_URL",
    "--schema-dir": "BROKER_PLUGIN_SCHEMA_DIR",
    "--survey": "BROKER_PLUGIN_SURVEY",
    "--metrics-port": "BROKER_PLUGIN_METRICS_PORT",
    "--metrics": "BROKER_PLUGIN_METRICS",
    "--lag-interval": "BROKER_PLUGIN_LAG_INTERVAL",
    "--drift-window": "BROKER_PLUGIN_DRIFT_WINDOW",
    "--drift-min-window": "BROKER_PLUGIN_DRIFT_MIN_WINDOW",
    "--drift-psi-threshold": "BROKER_PLUGIN_DRIFT_PSI_THRESHOLD",
    "--drift-ks-threshold": "BROKER_PLUGIN_DRIFT_KS_THRESHOLD",
    "--drift-js-threshold": "BROKER_PLUGIN_DRIFT_JS_THRESHOLD",
    "--max-messages": "BROKER_PLUGIN_MAX_MESSAGES",
    "--batch-size": "BROKER_PLUGIN_BATCH_SIZE",
    "--batch-wait-ms": "BROKER_PLUGIN_BATCH_WAIT_MS",
    "--exactly-once": "BROKER_PLUGIN_EXACTLY_ONCE",
    "--transactional-id": "BROKER_PLUGIN_TRANSACTIONAL_ID",
    "--group-instance-id": "BROKER_PLUGIN_GROUP_INSTANCE_ID",
    "--output-format": "BROKER_PLUGIN_OUTPUT_FORMAT",
    "--inference-threads": "BROKER_PLUGIN_INFERENCE_THREADS",
    "--overlap-chunk": "BROKER_PLUGIN_OVERLAP_CHUNK",
    "--kafka-setting": "BROKER_PLUGIN_KAFKA_SETTINGS",
    "--sasl-password": "BROKER_PLUGIN_SASL_PASSWORD",
    "--log-level": "BROKER_PLUGIN_LOG_LEVEL",
    "--liveness-timeout": "BROKER_PLUGIN_LIVENESS_TIMEOUT",
}


def _run_command():
    import typer.main

    from broker_plugin.cli import app

    return typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]


def test_run_keeps_every_flag_short_form_and_env_var() -> None:
    """`run`'s generated parameters: the same flags, -X, the --no- forms and variables, in the
    declarations' order, each with its help."""
    params = [p for p in _run_command().params if p.name != "help"]
    by_flag = {p.opts[0]: p for p in params}
    assert list(by_flag) == list(RUN_FLAGS)
    assert {flag: p.envvar for flag, p in by_flag.items()} == RUN_FLAGS
    assert by_flag["--kafka-setting"].opts == ["--kafka-setting", "-X"]
    assert by_flag["--metrics"].secondary_opts == ["--no-metrics"]
    assert by_flag["--exactly-once"].secondary_opts == ["--no-exactly-once"]
    assert all(p.help for p in params)
    assert [o.envvar for o in ServingConfig.options()] == list(RUN_FLAGS.values())


def test_run_defaults_are_the_config_defaults() -> None:
    """Each default is declared once: the command line's is the config field's, except where
    the declaration says otherwise (required options; the shipped model; the metrics port,
    off when the config is built in code, DEFAULT_METRICS_PORT on the command line)."""
    import dataclasses

    from broker_plugin.http_server import DEFAULT_METRICS_PORT

    params = {p.name: p for p in _run_command().params}
    fields = {f.name: f for f in dataclasses.fields(ServingConfig)}
    command_line_only = {"model": None, "metrics_port": DEFAULT_METRICS_PORT,
                         "kafka_settings": []}
    for option in ServingConfig.options():
        param = params[option.name]
        assert param.required == option.required, option.name
        if option.required:
            continue
        assert param.default == option.default, option.name
        if option.name in command_line_only:
            assert option.default == command_line_only[option.name]
            continue
        assert fields[option.field].default == option.default, option.name


def test_batch_size_default_is_one_constant() -> None:
    """run, classify and capture (and the functions behind them) batch DEFAULT_BATCH_SIZE."""
    import inspect

    import typer.main

    from broker_plugin.cli import app
    from broker_plugin.serving.capture import capture_files, capture_kafka
    from broker_plugin.serving.config import DEFAULT_BATCH_SIZE
    from broker_plugin.serving.replay import classify_files

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name in ("run", "classify", "capture"):
        size = next(p for p in commands[name].params if p.name == "batch_size")
        assert size.default == DEFAULT_BATCH_SIZE, name
    for function in (classify_files, capture_files, capture_kafka):
        default = inspect.signature(function).parameters["batch_size"].default
        assert default == DEFAULT_BATCH_SIZE, function.__name__
    assert _config().batch_size == DEFAULT_BATCH_SIZE


def test_liveness_timeout_is_an_option_of_the_config(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BROKER_PLUGIN_LIVENESS_TIMEOUT (the chart's probes.livenessTimeoutSeconds) and
    --liveness-timeout reach the config and the served /healthz; Health itself reads no
    environment."""
    from broker_plugin.health import DEFAULT_LIVENESS_TIMEOUT, LIVENESS_TIMEOUT_ENV, Health
    from broker_plugin.serving.service import make_observer

    config = _cli_config(model_dir, monkeypatch, [], {LIVENESS_TIMEOUT_ENV: "15"})
    assert config.liveness_timeout == 15.0
    assert _cli_config(model_dir, monkeypatch, ["--liveness-timeout", "7.5"], {}
                       ).liveness_timeout == 7.5
    assert _cli_config(model_dir, monkeypatch, [], {}).liveness_timeout == DEFAULT_LIVENESS_TIMEOUT

    class Pipeline:
        card = Classifier(model_dir).card

    observer, server = make_observer(Pipeline(), _config(metrics_port=0))  # type: ignore[arg-type]
    assert observer is None and server is None
    observer, server = make_observer(
        Pipeline(),  # type: ignore[arg-type]
        _config(metrics_port=free_port(), liveness_timeout=15.0),
    )
    try:
        assert observer.health.liveness_timeout == 15.0
    finally:
        server.close()
    monkeypatch.setenv(LIVENESS_TIMEOUT_ENV, "5")
    assert Health().liveness_timeout == DEFAULT_LIVENESS_TIMEOUT
    with pytest.raises(ConfigError, match="--liveness-timeout"):
        _config(liveness_timeout=0)


def test_sasl_password_reaches_both_clients_but_no_log(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BROKER_PLUGIN_SASL_PASSWORD wins over -X sasl.password in both clients' settings and
    shows in neither the startup log nor the config's repr."""
    config = _cli_config(
        model_dir, monkeypatch, ["-X", "sasl.password=old", "-X", "security.protocol=SASL_SSL"],
        {"BROKER_PLUGIN_SASL_PASSWORD": "s3cret"},
    )
    assert config.consumer_settings()["sasl.password"] == "s3cret"
    assert config.producer_settings()["sasl.password"] == "s3cret"
    assert config.producer_settings()["security.protocol"] == "SASL_SSL"
    assert "s3cret" not in repr(config) and "s3cret" not in json.dumps(config.describe())


def test_no_metrics_keeps_the_port_unchecked_and_off(model_dir: Path, monkeypatch) -> None:
    """--no-metrics turns the endpoint off whatever the port says (as before the toggle was
    a config field)."""
    config = _cli_config(model_dir, monkeypatch, ["--no-metrics", "--metrics-port", "70000"], {})
    assert not config.metrics_enabled
    assert config.describe()["metrics_port"] == "off"


def _outcome(surveys: list[str], mjd: list[float], reasons: list[str]):
    from broker_plugin.serving.pipeline import BatchOutcome, Classified, Rejection
    from broker_plugin.serving.timing import StageTimes

    classified = [
        Classified(i, f"o{i}", {"alert_mjd": t, "survey": s})
        for i, (s, t) in enumerate(zip(surveys, mjd, strict=True))
    ]
    rejected = [Rejection(100 + i, r, "why") for i, r in enumerate(reasons)]
    probabilities = np.tile(np.array([[0.1, 0.1, 0.1, 0.1, 0.6]]), (len(surveys), 1))
    return BatchOutcome(classified, rejected, StageTimes({"decode": 0.01}),
                        probabilities=probabilities)


class _Message:
    def topic(self) -> str:
        return "alerts"


def _observer():
    from broker_plugin.health import Health
    from broker_plugin.metrics import PluginMetrics
    from broker_plugin.serving.observer import ServingObserver

    metrics = PluginMetrics(model_version="1", classes=["CEP", "DSCT", "ECL", "LPV", "RRLYR"])
    return ServingObserver(metrics, Health(), lag_interval_s=3600), metrics


def test_ztf_latency_is_on_utc_and_lsst_on_tai() -> None:
    """Alerts 20 s old on their own time scale (ZTF: UTC, LSST: TAI) both land in (10, 30] s."""
    import time

    from broker_plugin.metrics import MJD_UNIX_EPOCH, TAI_MINUS_UTC_SECONDS

    observer, metrics = _observer()
    utc_mjd = (time.time() - 20.0) / 86400.0 + MJD_UNIX_EPOCH
    tai_mjd = utc_mjd + TAI_MINUS_UTC_SECONDS / 86400.0
    observer.batch([_Message()] * 2, _outcome(["ztf", "lsst"], [utc_mjd, tai_mjd], []), None)

    def bucket(le: str) -> float | None:
        return metrics.registry.get_sample_value(
            "broker_plugin_end_to_end_latency_seconds_bucket", {"le": le}
        )

    assert bucket("10.0") == 0 and bucket("30.0") == 2


def test_too_few_points_is_dead_lettered_but_not_a_failure() -> None:
    """Undecodable input counts as a failure by error type; a short history does not."""
    observer, metrics = _observer()
    reasons = ["bad_magic", "too_few_points", "too_few_points", "no_points"]
    observer.batch([_Message()] * 5, _outcome(["lsst"], [60000.0], reasons), None)
    get = metrics.registry.get_sample_value
    assert get("broker_plugin_dead_letters_total", {"reason": "too_few_points"}) == 2
    assert get("broker_plugin_dead_letters_total", {"reason": "no_points"}) == 1
    assert get("broker_plugin_alerts_failed_total", {"error": "bad_magic"}) == 1
    assert get("broker_plugin_alerts_failed_total", {"error": "too_few_points"}) is None
    assert get("broker_plugin_alerts_failed_total", {"error": "no_points"}) is None


_MIXED_SCHEMA = {
    "type": "record",
    "name": "mixed",
    "namespace": "test",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "i", "type": ["null", "int"]},
        {"name": "l", "type": ["long", "null"]},
        {"name": "f", "type": "float"},
        {"name": "d", "type": {"type": "double"}},
        {"name": "b", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "e", "type": {"type": "enum", "name": "colour", "symbols": ["g", "r", "i"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "m", "type": {"type": "map", "values": ["null", "double"]}},
        {"name": "subs", "type": {"type": "array", "items": {
            "type": "record", "name": "sub", "fields": [{"name": "n", "type": "long"}]}}},
        {"name": "again", "type": ["null", "test.sub"]},
        {"name": "with_default", "type": "int", "default": 7},
    ],
}


def _mixed_record(rng: np.random.Generator) -> dict:
    n = int(rng.integers(0, 4))
    return {
        "s": "".join(rng.choice(list("abcé☃"), int(rng.integers(0, 90)))),
        "i": None if rng.random() < 0.3 else int(rng.integers(-(2**31), 2**31)),
        "l": None if rng.random() < 0.3 else int(rng.integers(-(2**63), 2**63 - 1)),
        "f": float(rng.normal()),
        "d": float(rng.normal() * 1e6),
        "b": bool(rng.random() < 0.5),
        "raw": rng.bytes(int(rng.integers(0, 200))),
        "e": str(rng.choice(["g", "r", "i"])),
        "tags": [str(k) for k in range(n)],
        "m": {f"k{k}": None if k == 1 else float(k) / 3 for k in range(n)},
        "subs": [{"n": int(k) - 70} for k in range(n)],
        "again": None if n == 0 else {"n": n * 1000},
    }


def test_compiled_avro_writer_writes_fastavros_bytes() -> None:
    """Every covered type (unions, nested and named records, maps, defaults) byte for byte."""
    import io

    import fastavro

    from broker_plugin.serving.avro_writer import compile_writer

    write = compile_writer(_MIXED_SCHEMA)
    parsed = fastavro.parse_schema(_MIXED_SCHEMA)
    rng = np.random.default_rng(3)
    for _ in range(200):
        record = _mixed_record(rng)
        want = io.BytesIO()
        fastavro.schemaless_writer(want, parsed, record)
        out = bytearray()
        write(out, record)
        assert bytes(out) == want.getvalue(), record


def test_classification_records_serialise_as_fastavro_would() -> None:
    """The output serializer's compiled path equals fastavro's on our output schema."""
    import io

    import fastavro

    from broker_plugin.serving.service import output_schema

    schema = output_schema()
    serializer = OutputSerializer("avro", schema, schema_id=3)
    assert serializer._write is not None
    classes = ["CEP", "DSCT", "ECL", "LPV", "RRLYR"]
    rng = np.random.default_rng(5)
    for k in range(50):
        probs = rng.dirichlet(np.ones(5)).tolist()
        record = {
            "alert_id": str(rng.integers(0, 2**62)), "object_id": f"obj{k}", "survey": "lsst",
            "schema_id": None if k % 3 == 0 else 1101, "alert_mjd": 60000.0 + k / 7,
            "classifier": "m", "classifier_version": "1", "classes": classes,
            "probabilities": dict(zip(classes, probs, strict=True)),
            "predicted_class": classes[int(np.argmax(probs))], "probability": max(probs),
            "bands": [{"band": b, "points": 30 + k, "probabilities":
                       dict(zip(classes, probs, strict=True)), "predicted_class": "ECL"}
                      for b in "gr"[: k % 3]],
            "points_per_band": {b: 3 * k for b in "ugr"[: k % 4]},
            "ingest_time_ms": 1_700_000_000_000 + k, "publish_time_ms": 1_700_000_000_500,
        }
        body = io.BytesIO()
        fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
        assert serializer.serialize(record) == b"\x00\x00\x00\x00\x03" + body.getvalue()


def test_schemas_the_writer_does_not_cover_fall_back_to_fastavro() -> None:
    """A three-way union is refused by the compiler; the serializer still writes it."""
    from broker_plugin.serving.avro_writer import UnsupportedSchema, compile_writer

    schema = {"type": "record", "name": "u",
              "fields": [{"name": "x", "type": ["null", "int", "string"]}]}
    with pytest.raises(UnsupportedSchema):
        compile_writer(schema)
    serializer = OutputSerializer("avro", schema, schema_id=1)
    assert serializer._write is None
    assert serializer.deserialize(serializer.serialize({"x": "a"})) == {"x": "a"}


def test_lsst_input_without_a_schema_source_stops_in_one_line(model_dir: Path) -> None:
    """`run` for LSST alerts (the default) with neither registry nor schema folder: exit 2,
    one line naming both options, before any Kafka work."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_PLUGIN_")}
    result = subprocess.run(
        [sys.executable, "-m", "broker_plugin", "run", "--bootstrap-servers", "127.0.0.1:1",
         "--input-topic", "a", "--output-topic", "b", "--dlq-topic", "c", "--group-id", "g",
         "--model", str(model_dir), "--no-metrics"],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "--schema-registry-url" in lines[0] and "--schema-dir" in lines[0]
    assert "--survey ztf" in lines[0]


def test_registry_credentials_in_the_url_stay_out_of_the_start_up_log() -> None:
    config = _config(schema_registry_url="https://reader:s3cret@registry.example:8081/api",
                     schema_dir=None)
    shown = json.dumps(config.describe())
    assert "s3cret" not in shown and "reader" not in shown
    assert "https://***@registry.example:8081/api" in shown


def test_output_schema_registration_sends_url_credentials_as_basic_auth() -> None:
    """`--schema-registry-url https://user:pass@host` registers our schema with Basic auth
    (urllib would send the credentials nowhere) and the error text never shows them."""
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from broker_plugin.serving.service import register_schema

    seen: dict[str, str] = {}

    class Registry(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen["auth"] = self.headers.get("Authorization", "")
            seen["path"] = self.path
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"id": 7}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://reader:s3cret@127.0.0.1:{server.server_port}"
        assert register_schema(url, "out-value", {"type": "string"}) == 7
    finally:
        server.shutdown()
    assert seen["auth"] == "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert seen["path"] == "/subjects/out-value/versions"


def test_a_failing_lag_query_is_logged_once_per_kind_and_the_stream_goes_on(caplog) -> None:
    """Lag is advisory: a broken watermark query neither stops the loop nor hides itself."""
    import logging

    from broker_plugin.serving.observer import ServingObserver

    class BrokenMetrics:
        def update_consumer_lag(self, consumer: object, timeout: float) -> None:
            raise RuntimeError("watermarks unavailable")

    observer = ServingObserver(BrokenMetrics(), health=None, lag_interval_s=1e-9)
    with caplog.at_level(logging.WARNING, logger="broker_plugin.observer"):
        for _ in range(3):
            observer._last_lag = -float("inf")
            observer.idle(consumer=None)
    assert observer.lag_errors == {"RuntimeError": 3}
    warnings = [r for r in caplog.records if "consumer lag not updated" in r.message]
    assert len(warnings) == 1 and warnings[0].exc_info is not None


def test_an_unexpected_decoder_exception_is_an_internal_error_not_avro_error(caplog) -> None:
    """A bug met on one payload: reason internal_error, logged with its traceback once per
    kind; corrupt bytes stay avro_error."""
    import logging

    from broker_plugin.decoding import decoder as decoder_module
    from broker_plugin.rejections import Reason

    decoder_module._logged_internal.clear()
    with caplog.at_level(logging.ERROR, logger="broker_plugin.decoding"):
        bug = [decoder_module._failure(i, KeyError("diaSource"), 1101) for i in range(2)]
    corrupt = decoder_module._failure(0, EOFError("read past the end"), 1101)
    assert {r.reason for r in bug} == {Reason.INTERNAL_ERROR}
    assert corrupt.reason == Reason.AVRO_ERROR
    logged = [r for r in caplog.records if "internal error" in r.message]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_the_observer_passes_an_unreachable_cluster_to_readiness() -> None:
    """ServingObserver's broker_reachable hook (the consumer calls it) drives /readyz."""
    from broker_plugin.health import Health
    from broker_plugin.serving.observer import ServingObserver

    health = Health()
    health.model_loaded("1")
    health.consumer_running(True)
    observer = ServingObserver(metrics=None, health=health)  # type: ignore[arg-type]
    assert health.readiness().ok
    observer.broker_reachable(False, "kafka:9092")
    assert not health.readiness().ok and "kafka:9092" in str(health.readiness().detail)
    observer.broker_reachable(True, "kafka:9092")
    assert health.readiness().ok


def test_a_registry_outage_makes_the_plugin_unready_until_it_answers() -> None:
    """The registry_reachable hook drives /readyz like the broker's, each named on its own,
    and the pod is ready only when both answer."""
    from broker_plugin.health import Health
    from broker_plugin.serving.observer import ServingObserver

    health = Health()
    health.model_loaded("1")
    health.consumer_running(True)
    observer = ServingObserver(metrics=None, health=health)  # type: ignore[arg-type]
    observer.registry_reachable(False, "http://registry:8081")
    observer.broker_reachable(False, "kafka:9092")
    detail = health.readiness().detail
    assert detail["schema_registry_unreachable"]["url"] == "http://registry:8081"
    assert detail["kafka_unreachable"]["bootstrap"] == "kafka:9092"
    observer.broker_reachable(True)
    assert not health.readiness().ok
    observer.registry_reachable(True)
    assert health.readiness().ok and "schema_registry_unreachable" not in str(
        health.readiness().detail)


def test_a_dead_letter_too_large_for_its_topic_keeps_its_place_not_its_bytes() -> None:
    """Over the size limit, the value is dropped (it would fail every delivery and stop the
    stream on the same message at each restart); its size and origin stay in the headers."""
    from broker_plugin.serving.dlq import (
        dead_letter_headers,
        dead_letter_value,
        read_dead_letter_headers,
    )

    assert dead_letter_value(b"x" * 10, limit=10) == (b"x" * 10, None)
    assert dead_letter_value(None, limit=10) == (None, None)
    value, dropped = dead_letter_value(b"x" * 11, limit=10)
    assert value is None and dropped == 11
    headers = read_dead_letter_headers(dead_letter_headers(
        "bad_magic", "first byte 7", None, "alerts", 2, 41, dropped_bytes=dropped))
    assert headers["value_dropped"] == "11"
    assert (headers["origin.topic"], headers["origin.offset"]) == ("alerts", "41")
    assert "value_dropped" not in read_dead_letter_headers(dead_letter_headers(
        "bad_magic", "first byte 7", None, "alerts", 2, 41))


def test_a_loop_stuck_on_kafka_is_unready_before_it_counts_as_dead() -> None:
    """No tick for READY_STALL_S (a commit blocked on a frozen broker) makes /readyz 503;
    /healthz stays 200 until the liveness timeout."""
    import time

    from broker_plugin.health import READY_STALL_S, Health

    health = Health(liveness_timeout=60)
    health.model_loaded("1")
    health.consumer_running(True)
    health.tick()
    now = time.monotonic()
    assert health.readiness(now + 1).ok
    stalled = health.readiness(now + READY_STALL_S + 1)
    assert not stalled.ok and stalled.detail["loop_stalled_seconds"] > READY_STALL_S
    assert health.liveness(now + READY_STALL_S + 1).ok
    assert not health.liveness(now + 61).ok
