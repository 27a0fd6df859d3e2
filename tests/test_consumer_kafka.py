"""The consumer loop against the real local Kafka, with a stand-in JSON decoder.

The decoder here is deliberately trivial (JSON light curves through the real BatchBuilder) so
these tests pin the loop's transport behaviour: records per alert keyed by object id, dead
letters with reasons and original bytes, offsets committed only after delivery.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition

from broker_plugin.decoding.batch import AVRO_ERROR, BatchBuilder, DecodedBatch
from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.config import ServingConfig
from broker_plugin.serving.consumer import AlertConsumer
from broker_plugin.serving.dlq import read_dead_letter_headers
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.pipeline import TOO_FEW_POINTS, AlertPipeline
from tests.kafka_support import create_topics, produce_all, read_topic, unique_topic_name
from tests.model_fixture import write_fixture_model

pytestmark = pytest.mark.kafka


class JsonDecoder:
    """{"id", "t", "m", "b"} JSON alerts → DecodedBatch; anything else is an avro_error."""

    def decode_batch(self, payloads: list[bytes]) -> DecodedBatch:
        builder = BatchBuilder()
        for i, payload in enumerate(payloads):
            try:
                alert = json.loads(payload)
            except ValueError as exc:
                builder.fail(i, AVRO_ERROR, f"not JSON: {exc}")
                continue
            t = np.asarray(alert["t"], dtype=float)
            builder.add(
                i,
                f"a{alert['id']}",
                f"obj{alert['id']}",
                "test",
                float(t.max()),
                None,
                np.asarray(alert["b"]),
                t,
                np.asarray(alert["m"], dtype=float),
                np.zeros(t.size),
            )
        return builder.build()


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    """The session broker (conftest; SELFREG_TEST_KAFKA_BOOTSTRAP selects an external one)."""
    return kafka_bootstrap


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AlertPipeline:
    model = write_fixture_model(tmp_path_factory.mktemp("model"), min_points=5)
    return AlertPipeline(JsonDecoder(), Classifier(model))


def _alert(i: int, n: int = 40) -> bytes:
    rng = np.random.default_rng(i)
    t = np.sort(rng.uniform(60000, 60300, n))
    bands = np.where(np.arange(n) % 2 == 0, "g", "r")
    m = 15 + 0.3 * np.sin(t / (1 + i % 5)) + rng.normal(0, 0.01, n)
    return json.dumps({"id": i, "t": t.tolist(), "m": m.tolist(), "b": bands.tolist()}).encode()


def _config(bootstrap: str, topics: dict[str, str], **changes: object) -> ServingConfig:
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "input_topics": [topics["in"]],
        "output_topic": topics["out"],
        "dlq_topic": topics["dlq"],
        "group_id": topics["group"],
        "model_dir": Path("unused"),
        "batch_size": 16,
        "batch_wait_ms": 50,
    }
    values.update(changes)
    return ServingConfig(**values)  # type: ignore[arg-type]


def _topics(bootstrap: str, partitions: int = 2) -> dict[str, str]:
    topics = {k: unique_topic_name(f"t-{k}") for k in ("in", "out", "dlq")}
    create_topics(bootstrap, topics.values(), partitions=partitions)
    topics["group"] = unique_topic_name("g")
    return topics


def test_every_alert_classified_and_poison_dead_lettered(bootstrap: str, pipeline) -> None:
    """30 good alerts → 30 keyed records; 2 poison + 1 short alert → DLQ with reasons."""
    topics = _topics(bootstrap)
    good = [_alert(i) for i in range(30)]
    short = json.dumps({"id": 99, "t": [1.0, 2.0], "m": [1.0, 2.0], "b": ["g", "g"]}).encode()
    poison = [b"\x01garbage", b"{not json"]
    produce_all(bootstrap, topics["in"], [*good[:15], poison[0], short, *good[15:], poison[1]])
    config = _config(bootstrap, topics, max_messages=33, output_format="json")
    summary = AlertConsumer(config, pipeline, OutputSerializer("json")).run()
    assert (summary.consumed, summary.classified, summary.dead_lettered) == (33, 30, 3)

    out = read_topic(bootstrap, topics["out"], 30, settle_s=0.5)
    records = [json.loads(m.value()) for m in out]
    assert sorted(m.key().decode() for m in out) == sorted(f"obj{i}" for i in range(30))
    assert all(m.key().decode() == r["object_id"] for m, r in zip(out, records, strict=True))
    for r in records:
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-6

    dlq = read_topic(bootstrap, topics["dlq"], 3, settle_s=0.5)
    reasons = {m.value(): read_dead_letter_headers(m.headers())["reason"] for m in dlq}
    assert reasons == {poison[0]: AVRO_ERROR, poison[1]: AVRO_ERROR, short: TOO_FEW_POINTS}
    assert all(read_dead_letter_headers(m.headers())["origin.topic"] == topics["in"] for m in dlq)


def test_offsets_committed_after_the_batch(bootstrap: str, pipeline) -> None:
    """After a clean stop the group's committed offsets reach the end of every partition."""
    topics = _topics(bootstrap, partitions=2)
    produce_all(bootstrap, topics["in"], [_alert(i) for i in range(20)])
    config = _config(bootstrap, topics, max_messages=20, output_format="json")
    AlertConsumer(config, pipeline, OutputSerializer("json")).run()
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": topics["group"]})
    try:
        parts = [TopicPartition(topics["in"], p) for p in range(2)]
        committed = probe.committed(parts, timeout=10)
        ends = [probe.get_watermark_offsets(p, timeout=10)[1] for p in parts]
    finally:
        probe.close()
    assert [c.offset for c in committed] == ends
    assert sum(ends) == 20


def test_exactly_once_produces_each_record_once(bootstrap: str, pipeline) -> None:
    """With transactions, a committed batch's records are visible to read_committed readers."""
    topics = _topics(bootstrap, partitions=1)
    produce_all(bootstrap, topics["in"], [_alert(i) for i in range(12)])
    config = _config(
        bootstrap,
        topics,
        max_messages=12,
        exactly_once=True,
        output_format="json",
        transactional_id=unique_topic_name("txn"),
    )
    summary = AlertConsumer(config, pipeline, OutputSerializer("json")).run()
    assert summary.classified == 12
    out = read_topic(bootstrap, topics["out"], 12, settle_s=0.5)
    assert len(out) == 12
