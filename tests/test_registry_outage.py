"""A schema-registry outage mid-stream, against the real local Kafka and an HTTP registry.

The registry here is devtools' Confluent-compatible stand-in (GET /schemas/ids/{id}),
answering 503 while "down". The consumer must treat the outage like a broker outage: rewind,
commit nothing, report unready, retry, and classify every alert once the registry is back;
no alert may reach the dead-letter topic because of the outage.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from broker_plugin.alerts import encode_compact, serialise
from broker_plugin.avro import schema_files as schemas
from broker_plugin.decoding import AlertDecoder, RegistrySchemaSource
from broker_plugin.lightcurve import LightCurve
from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.config import ServingConfig
from broker_plugin.serving.consumer import AlertConsumer
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.pipeline import AlertPipeline
from devtools.kafka_support import create_topics, produce_all, read_topic, unique_topic_name
from devtools.model_fixture import write_fixture_model
from devtools.schema_registry import StubSchemaRegistry

pytestmark = pytest.mark.kafka

SCHEMA_ID = 7
N_ALERTS = 40


class _Readiness:
    """Observer that records what the consumer reports about the registry."""

    def __init__(self) -> None:
        self.registry: list[bool] = []

    def registry_reachable(self, reachable: bool, url: str | None = None) -> None:
        self.registry.append(reachable)


def _alert(i: int) -> bytes:
    rng = np.random.default_rng(i)
    t = np.sort(rng.uniform(60000, 60300, 30))
    curve = LightCurve(f"obj{i}", t, 15 + 0.3 * np.sin(t), np.full(30, 0.02), band="g")
    schema = schemas.load(schemas.COMPACT_ALERT)
    return serialise(schema, encode_compact([curve]), SCHEMA_ID)


@pytest.fixture()
def registry():
    """The compact alert schema's registry, down until the test brings it back."""
    with StubSchemaRegistry(
            {SCHEMA_ID: schemas.schema_path(schemas.COMPACT_ALERT).read_text()}) as stub:
        stub.down = True
        yield stub


def test_registry_outage_loses_nothing_and_dead_letters_nothing(
    kafka_bootstrap: str, tmp_path: Path, registry: StubSchemaRegistry
) -> None:
    topics = {k: unique_topic_name(f"reg-{k}") for k in ("in", "out", "dlq")}
    create_topics(kafka_bootstrap, topics.values(), partitions=2)
    produce_all(kafka_bootstrap, topics["in"], [_alert(i) for i in range(N_ALERTS)])

    source = RegistrySchemaSource(registry.url, retries=0, down_for_s=0.2)
    model = write_fixture_model(tmp_path / "model", min_points=5)
    pipeline = AlertPipeline(AlertDecoder(source), Classifier(model))
    config = ServingConfig(  # type: ignore[arg-type]
        bootstrap_servers=kafka_bootstrap, input_topics=[topics["in"]],
        output_topic=topics["out"], dlq_topic=topics["dlq"], group_id=unique_topic_name("g"),
        model_dir=Path("unused"), survey="compact", batch_size=16, batch_wait_ms=50,
        output_format="json", max_messages=N_ALERTS)
    observer = _Readiness()
    consumer = AlertConsumer(config, pipeline, OutputSerializer("json"), observer=observer)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(registry.calls) < 3:  # tried, backed off, tried again: still down
            assert time.monotonic() < deadline and thread.is_alive(), errors
            time.sleep(0.05)
        assert observer.registry == [False]
        assert consumer.summary.consumed == 0 and consumer.summary.dead_lettered == 0
        registry.down = False
        thread.join(60)
        assert not thread.is_alive() and not errors, errors
    finally:
        consumer.stop("test")
    summary: Any = consumer.summary
    assert (summary.consumed, summary.classified, summary.dead_lettered) == (N_ALERTS,
                                                                            N_ALERTS, 0)
    assert observer.registry == [False, True]
    out = read_topic(kafka_bootstrap, topics["out"], N_ALERTS, settle_s=0.5)
    assert sorted(m.key().decode() for m in out) == sorted(f"obj{i}" for i in range(N_ALERTS))
    assert read_topic(kafka_bootstrap, topics["dlq"], 0, timeout_s=2) == []
