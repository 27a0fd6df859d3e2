"""Topics and logs (issue 17): `produce --create-topic`, `run`'s input-topic check, librdkafka
lines through Python logging (rate-limited), each client given only its own properties, and
an unreachable broker: one line per interval naming it, /readyz 503.

The Kafka tests use the session's real broker (tests/conftest.py), which scripts/local-kafka
starts with topic auto-creation off; the checks below list all topics (no topic name in the
metadata request), so a name that was never created stays absent even on a broker that
auto-creates topics.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from broker_plugin.health import Health
from broker_plugin.serving.config import ServingConfig
from broker_plugin.serving.consumer import AlertConsumer
from broker_plugin.serving.kafka_errors import MissingTopicError
from broker_plugin.serving.kafka_logging import (
    KAFKA_LOGGER,
    RateLimiter,
    client_logger,
    mask_numbers,
)
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.produce import producer_settings
from devtools.kafka_support import create_topic, delete_topics, read_topic, unique_topic_name
from devtools.loopback import free_port, http_get
from devtools.model_fixture import write_fixture_model
from devtools.serving_data import write_curves

#: The bench's pass-through: consumer-only keys (max.partition.fetch.bytes is librdkafka's
#: alias of fetch.message.max.bytes), which the producer used to be given too.
FETCH_SETTINGS = {"fetch.max.bytes": "104857600", "max.partition.fetch.bytes": "52428800"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


def _config(bootstrap: str, **changes: object) -> ServingConfig:
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "input_topics": [unique_topic_name("in")],
        "output_topic": unique_topic_name("out"),
        "dlq_topic": unique_topic_name("dlq"),
        "group_id": unique_topic_name("g"),
        "model_dir": Path("unused"),
        "survey": "compact",
        "batch_size": 8,
        "batch_wait_ms": 50,
    }
    values.update(changes)
    return ServingConfig(**values)  # type: ignore[arg-type]


_PIPELINE = SimpleNamespace(card=SimpleNamespace(name="test", version="1"))


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker_plugin", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    error_lines = [line for line in lines if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    return error_lines[0]


def _topic_names(bootstrap: str) -> dict[str, int]:
    """name → partition count, from a metadata request that names no topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return {n: len(t.partitions) for n, t in admin.list_topics(timeout=10).topics.items()}


# --------------------------------------------------------------------------- rate limiting


def test_rate_limiter_lets_one_per_interval_through_and_counts_the_rest() -> None:
    """Fake clock: first call passes (0 held), repeats within the interval are held and
    counted, the first one after the interval passes carrying that count."""
    clock = FakeClock()
    limiter = RateLimiter(30.0, clock)
    assert limiter.allow("a") == 0
    for step in (1, 10, 29.9):
        clock.now = 1000.0 + step
        assert limiter.allow("a") is None
    assert limiter.held("a") == 3
    assert limiter.allow("b") == 0  # keys are independent
    clock.now = 1030.0
    assert limiter.allow("a") == 3
    assert limiter.allow("a") is None
    clock.now = 1100.0
    assert limiter.allow("a") == 1
    assert RateLimiter(0.0, clock).allow("x") == 0


def test_rate_limiter_forgets_old_keys_beyond_its_capacity() -> None:
    """A stream of ever-new lines does not grow the limiter without bound."""
    clock = FakeClock()
    limiter = RateLimiter(1.0, clock, max_keys=10)
    for i in range(100):
        clock.now += 0.01
        assert limiter.allow(i) == 0
    assert len(limiter._last) <= 10


def test_client_logger_masks_numbers_and_reports_suppressed_repeats() -> None:
    """librdkafka's records ("%s [%s] %s": facility, client, text) differing only in numbers
    are one line per interval; the next one says how many were suppressed."""
    clock = FakeClock()
    logger = client_logger("unit", interval_s=30.0, clock=clock)
    handler = ListHandler()
    logger.addHandler(handler)
    logger.propagate = False
    for i in range(10):
        clock.now += 1
        logger.log(
            logging.ERROR,
            "%s [%s] %s",
            "FAIL",
            f"rdkafka#consumer-{i}",
            f"127.0.0.1:{9000 + i}/bootstrap: Connect to ipv4#127.0.0.1:{9000 + i} failed: "
            f"Connection refused (after {i}ms in state CONNECT)",
        )
    logger.log(logging.WARNING, "%s [%s] %s", "CONFWARN", "rdkafka#producer-1", "other text")
    assert len(handler.records) == 2
    assert "FAIL" in handler.messages()[0] and "127.0.0.1:9000" in handler.messages()[0]
    clock.now += 30
    logger.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1",
               "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
               "(after 0ms in state CONNECT)")  # fmt: skip
    assert len(handler.records) == 3
    assert "9 similar lines suppressed" in handler.messages()[2]
    assert mask_numbers("a1b22c333") == "a#b#c#"
    assert logger.name == f"{KAFKA_LOGGER}.unit"


# --------------------------------------------------------------------------- client properties


def test_each_client_gets_only_its_own_properties() -> None:
    """Consumer-only keys (aliases too) never reach the producer, producer-only ones never the
    consumer; shared ones (security, client.id) reach both."""
    config = _config(
        "localhost:9092",
        kafka_settings={
            **FETCH_SETTINGS,
            "auto.commit.interval.ms": "1000",
            "linger.ms": "50",
            "request.required.acks": "all",
            "security.protocol": "PLAINTEXT",
            "client.id": "me",
        },
    )
    producer, consumer = config.producer_settings(), config.consumer_settings()
    for key in (*FETCH_SETTINGS, "auto.commit.interval.ms", "group.id"):
        assert key not in producer
    for key in ("linger.ms", "request.required.acks", "enable.idempotence"):
        assert key not in consumer
    for settings in (producer, consumer):
        assert settings["security.protocol"] == "PLAINTEXT" and settings["client.id"] == "me"
    assert "max.partition.fetch.bytes" not in producer_settings("b:1", FETCH_SETTINGS)


@pytest.mark.kafka
def test_producer_start_emits_no_consumer_property_warning(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With the bench's fetch settings, neither `run`'s producer and consumer nor
    `produce`'s producer log CONFWARN; a producer given them unfiltered does (the control
    shows librdkafka's lines do reach Python logging)."""
    caplog.set_level(logging.DEBUG, logger=KAFKA_LOGGER)
    config = _config(kafka_bootstrap, kafka_settings=dict(FETCH_SETTINGS))
    consumer = AlertConsumer(config, _PIPELINE, OutputSerializer("json"))  # type: ignore[arg-type]
    produce_side = Producer(producer_settings(kafka_bootstrap, FETCH_SETTINGS))
    try:
        for _ in range(5):
            consumer.producer.poll(0.1)
            consumer.consumer.poll(0.1)
            produce_side.poll(0.1)
    finally:
        consumer.consumer.close()
        consumer.producer.flush(5)
        produce_side.flush(5)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(KAFKA_LOGGER)]
    assert not [m for m in ours if "CONFWARN" in m or "fetch.message.max.bytes" in m], ours

    caplog.clear()
    control = Producer(
        {"bootstrap.servers": kafka_bootstrap, **FETCH_SETTINGS,
         "logger": client_logger("control")}
    )  # fmt: skip
    control.poll(0.5)
    control.flush(5)
    warned = [r.getMessage() for r in caplog.records if r.name == f"{KAFKA_LOGGER}.control"]
    assert any(
        "CONFWARN" in m and "fetch.message.max.bytes is a consumer property" in m for m in warned
    ), warned


# --------------------------------------------------------------------------- unreachable broker


class _HealthObserver:
    """Just the hooks that feed readiness (the real ServingObserver also feeds metrics)."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def tick(self) -> None:
        self.health.tick()

    def running(self, running: bool) -> None:
        self.health.consumer_running(running)

    def broker_reachable(self, reachable: bool, bootstrap: str | None = None) -> None:
        self.health.broker_reachable(reachable, bootstrap)


def _get(port: int, path: str) -> tuple[int, dict]:
    status, body = http_get(port, path, timeout=5)
    return status, json.loads(body)


def test_consumer_at_a_closed_port_logs_a_few_lines_and_is_not_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Six seconds against a port nothing listens on: librdkafka retries many times, the log
    gets a few lines (one naming the bootstrap address), /readyz answers 503 naming it."""
    from broker_plugin.http_server import start_http_server
    from broker_plugin.metrics import PluginMetrics

    caplog.set_level(logging.INFO, logger="broker_plugin")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    health = Health(liveness_timeout=30)
    health.model_loaded("1")
    consumer = AlertConsumer(
        _config(address),
        _PIPELINE,  # type: ignore[arg-type]
        OutputSerializer("json"),
        observer=_HealthObserver(health),
        metadata_timeout_s=1.0,
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    metrics = PluginMetrics(classes=["A", "B"])
    with start_http_server(0, metrics.registry, health, addr="127.0.0.1") as server:
        thread.start()
        time.sleep(6.0)
        status, body = _get(server.port, "/readyz")
        consumer.stop("test")
        thread.join(30)
    assert not thread.is_alive()
    assert status == 503, body
    assert body["consumer_running"] is True
    assert body["kafka_unreachable"]["bootstrap"] == address
    assert body["kafka_unreachable"]["seconds"] > 3

    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in loud)
    assert 1 <= len(loud) <= 5, text
    naming = [r for r in loud if address in r.getMessage() and "unreachable" in r.getMessage()]
    assert len(naming) == 1, text
    seen = sum(consumer.summary.transient_errors.values())
    assert seen > len(loud), (consumer.summary.transient_errors, text)


def test_readiness_recovers_when_the_broker_answers_again() -> None:
    """Health: unreachable makes readiness false with the address; reachable restores it
    with the usual three keys only."""
    health = Health()
    health.model_loaded("1")
    health.consumer_running(True)
    assert health.readiness().ok
    health.broker_reachable(False, "kafka:9092")
    probe = health.readiness()
    assert not probe.ok and probe.detail["kafka_unreachable"]["bootstrap"] == "kafka:9092"
    health.broker_reachable(True)
    probe = health.readiness()
    assert probe.ok and set(probe.detail) == {
        "model_version", "consumer_running", "assigned_partitions"
    }  # fmt: skip


# --------------------------------------------------------------------------- topics


@pytest.mark.kafka
def test_run_stops_when_an_input_topic_does_not_exist(kafka_bootstrap: str) -> None:
    """The consumer raises MissingTopicError (a UserError) naming topic and fix, and the
    check itself does not create the topic."""
    config = _config(kafka_bootstrap)
    missing = config.input_topics[0]
    consumer = AlertConsumer(config, _PIPELINE, OutputSerializer("json"))  # type: ignore[arg-type]
    with pytest.raises(MissingTopicError) as info:
        consumer.run()
    message = str(info.value)
    assert missing in message and kafka_bootstrap in message and "--create-topic" in message
    assert missing not in _topic_names(kafka_bootstrap)


@pytest.mark.kafka
def test_run_cli_exits_2_with_one_line_for_a_missing_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`broker-plugin run` with an input topic that was never created: exit 2, one line."""
    model = write_fixture_model(tmp_path / "model", min_points=5)
    missing = unique_topic_name("never-created")
    result = _cli(
        "run", "--bootstrap-servers", kafka_bootstrap, "--input-topic", missing,
        "--output-topic", unique_topic_name("out"), "--dlq-topic", unique_topic_name("dlq"),
        "--group-id", unique_topic_name("g"), "--model", str(model), "--survey", "compact",
        "--output-format", "json", "--no-metrics",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    line = _one_error_line(result)
    assert missing in line and kafka_bootstrap in line and "produce --create-topic" in line
    assert missing not in _topic_names(kafka_bootstrap)


@pytest.mark.kafka
def test_run_reads_an_existing_topic(kafka_bootstrap: str) -> None:
    """The check passes for a topic that exists (here empty): the loop runs until stopped."""
    topic = create_topic(kafka_bootstrap, unique_topic_name("exists"))
    try:
        config = _config(kafka_bootstrap, input_topics=[topic])
        consumer = AlertConsumer(config, _PIPELINE, OutputSerializer("json"))  # type: ignore[arg-type]
        threading.Timer(2.0, consumer.stop, args=("test",)).start()
        summary = consumer.run()
        assert summary.stopped_by == "test" and summary.consumed == 0
    finally:
        delete_topics(kafka_bootstrap, [topic])


@pytest.mark.kafka
def test_produce_creates_the_topic_then_finds_it_existing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """--create-topic --partitions 3: created and produced to; a second run says it exists;
    an impossible replication factor is one line naming topic, broker and reason, exit 2."""
    data = write_curves(tmp_path / "curves", 4)
    topic, impossible = unique_topic_name("created"), unique_topic_name("rf3")
    common = ("produce", "--bootstrap-servers", kafka_bootstrap, "--from", str(data),
              "--format", "compact")  # fmt: skip
    try:
        first = _cli(*common, "--topic", topic, "--create-topic", "--partitions", "3")
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"created topic {topic!r} at {kafka_bootstrap}: 3 partitions" in first.stdout
        assert _topic_names(kafka_bootstrap)[topic] == 3
        assert len(read_topic(kafka_bootstrap, topic, 4, timeout_s=20)) == 4

        again = _cli(*common, "--topic", topic, "--create-topic", "--partitions", "5")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already exists (3 partitions)" in again.stdout
        assert len([x for x in again.stdout.splitlines() if "already exists" in x]) == 1

        failed = _cli(*common, "--topic", impossible, "--create-topic",
                      "--replication-factor", "3")  # fmt: skip
        assert failed.returncode == 2, failed.stdout + failed.stderr
        line = _one_error_line(failed)
        assert impossible in line and kafka_bootstrap in line
        assert "INVALID_REPLICATION_FACTOR" in line, line

        loose = _cli(*common, "--topic", topic, "--partitions", "2")
        assert loose.returncode == 2 and "--create-topic" in _one_error_line(loose)
    finally:
        delete_topics(kafka_bootstrap, [topic, impossible])
