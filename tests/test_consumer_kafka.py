"""The consumer loop against the real local Kafka, with a stand-in JSON decoder.

The decoder here is deliberately trivial (JSON light curves through the real BatchBuilder) so
these tests pin the loop's transport behaviour: records per alert keyed by object id, dead
letters with reasons and original bytes, offsets committed only after delivery, an aborted
exactly-once transaction rewound and re-processed, and two consumers of one group splitting
the partitions through a cooperative rebalance.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from broker_plugin.decoding.batch import BatchBuilder, DecodedBatch
from broker_plugin.rejections import Reason
from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.config import ServingConfig
from broker_plugin.serving.consumer import AlertConsumer
from broker_plugin.serving.dlq import read_dead_letter_headers
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.pipeline import AlertPipeline
from devtools.kafka_support import (
    TopicReader,
    create_topics,
    produce_all,
    read_topic,
    unique_topic_name,
)
from devtools.model_fixture import write_fixture_model

pytestmark = pytest.mark.kafka


class JsonDecoder:
    """{"id", "t", "m", "b"} JSON alerts → DecodedBatch; anything else is an avro_error."""

    def decode_batch(self, payloads: list[bytes]) -> DecodedBatch:
        builder = BatchBuilder()
        for i, payload in enumerate(payloads):
            try:
                alert = json.loads(payload)
            except ValueError as exc:
                builder.fail(i, Reason.AVRO_ERROR, f"not JSON: {exc}")
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
        "survey": "auto",  # the fake JSON alerts need no schema source
        "batch_size": 16,
        "batch_wait_ms": 50,
    }
    values.update(changes)
    return ServingConfig(**values)  # type: ignore[arg-type]


def _topics(
    bootstrap: str, partitions: int = 2, out_config: dict[str, str] | None = None
) -> dict[str, str]:
    topics = {k: unique_topic_name(f"t-{k}") for k in ("in", "out", "dlq")}
    create_topics(bootstrap, [topics["in"], topics["dlq"]], partitions=partitions)
    create_topics(bootstrap, [topics["out"]], partitions=partitions, config=out_config)
    topics["group"] = unique_topic_name("g")
    return topics


def _committed_and_ends(bootstrap: str, group: str, topic: str, partitions: int):
    """(committed offsets of `group`, end offsets) per partition of `topic`."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        committed = [c.offset for c in probe.committed(parts, timeout=10)]
        ends = [probe.get_watermark_offsets(p, timeout=10)[1] for p in parts]
    finally:
        probe.close()
    return committed, ends


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


class _Running:
    """An AlertConsumer looping in a thread (as in a pod), stopped like SIGTERM would."""

    def __init__(self, consumer: AlertConsumer) -> None:
        self.consumer = consumer
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.consumer.run()
        except BaseException as exc:  # re-raised in the test thread by stop()
            self.error = exc

    def stop(self, timeout_s: float = 30.0) -> None:
        self.consumer.stop("test")
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "consumer did not stop"
        if self.error is not None:
            raise self.error


class _Assignments:
    """Observer that only records how many partitions the consumer owns."""

    def __init__(self) -> None:
        self.owned = 0

    def assigned(self, delta: int) -> None:
        self.owned += delta


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
    assert reasons == {poison[0]: Reason.AVRO_ERROR, poison[1]: Reason.AVRO_ERROR,
                       short: Reason.TOO_FEW_POINTS}
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


def _raise_max_message_bytes(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(
        "topic",
        topic,
        incremental_configs=[
            ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def test_aborted_transaction_is_invisible_and_the_batch_is_reprocessed(
    bootstrap: str, pipeline
) -> None:
    """A record the broker refuses aborts the transaction; after the fix each output is once."""
    # The output topic refuses every record batch until its limit is raised mid-run.
    topics = _topics(bootstrap, partitions=1, out_config={"max.message.bytes": "100"})
    poison = b"{not json"
    produce_all(bootstrap, topics["in"], [*(_alert(i) for i in range(8)), poison])
    config = _config(
        bootstrap,
        topics,
        max_messages=9,
        exactly_once=True,
        output_format="json",
        transactional_id=unique_topic_name("txn"),
    )
    consumer = AlertConsumer(config, pipeline, OutputSerializer("json"))
    running = _Running(consumer)
    _wait_for(lambda: consumer.summary.aborted >= 1 or not running.thread.is_alive(), 60,
              "the first aborted transaction")
    _raise_max_message_bytes(bootstrap, topics["out"])
    running.thread.join(60)
    running.stop()
    summary = consumer.summary
    assert summary.aborted >= 1
    assert (summary.consumed, summary.classified, summary.dead_lettered) == (9, 8, 1)

    out = read_topic(bootstrap, topics["out"], 8, settle_s=0.5)
    assert sorted(json.loads(m.value())["alert_id"] for m in out) == sorted(
        f"a{i}" for i in range(8)
    )
    # The aborted transaction's dead letter is in the log, but read_committed never sees it
    # (how many aborted copies the broker kept depends on where each attempt failed).
    committed_dlq = read_topic(bootstrap, topics["dlq"], 1, settle_s=0.5)
    all_dlq = read_topic(bootstrap, topics["dlq"], 2, isolation_level="read_uncommitted")
    assert [m.value() for m in committed_dlq] == [poison]
    assert len(all_dlq) >= 2 and {m.value() for m in all_dlq} == {poison}
    committed, ends = _committed_and_ends(bootstrap, topics["group"], topics["in"], 1)
    assert committed == ends == [9]


def test_two_consumers_split_partitions_without_loss(bootstrap: str, pipeline) -> None:
    """A second group member takes over partitions mid-stream; every alert is classified."""
    partitions, first, second = 4, 60, 60
    topics = _topics(bootstrap, partitions=partitions)
    quick = {"heartbeat.interval.ms": "300", "session.timeout.ms": "6000"}
    alerts = [_alert(i) for i in range(first + second)]
    keys = [f"obj{i}".encode() for i in range(first + second)]  # spread over the partitions

    def start(observer: _Assignments) -> tuple[AlertConsumer, _Running]:
        config = _config(bootstrap, topics, output_format="json", kafka_settings=quick)
        consumer = AlertConsumer(config, pipeline, OutputSerializer("json"), observer)
        return consumer, _Running(consumer)

    owned_a, owned_b = _Assignments(), _Assignments()
    produce_all(bootstrap, topics["in"], alerts[:first], keys[:first])
    a, running_a = start(owned_a)
    try:
        _wait_for(lambda: a.summary.consumed == first, 60, "the first consumer's first half")
        b, running_b = start(owned_b)
        try:
            _wait_for(lambda: owned_b.owned > 0 and owned_a.owned + owned_b.owned == partitions,
                      60, "the cooperative rebalance")
            split = (owned_a.owned, owned_b.owned)
            produce_all(bootstrap, topics["in"], alerts[first:], keys[first:])
            with TopicReader(bootstrap, topics["out"]) as reader:
                # distinct keys: a batch redelivered by the rebalance repeats some records
                reader.read_until(lambda got: len({m.key() for m in got}) >= len(alerts), 60)
                reader.poll(0.5)
                records = Counter(json.loads(m.value())["alert_id"] for m in reader.messages)
        finally:
            running_b.stop()
    finally:
        running_a.stop()
    assert split == (2, 2)  # cooperative-sticky: B took half, A kept the other half
    assert set(records) == {f"a{i}" for i in range(len(alerts))}
    assert sum(records.values()) - len(alerts) <= config_batch_size()  # at-least-once
    assert b.summary.classified > 0 and a.summary.classified > first
    assert (owned_a.owned, owned_b.owned) == (0, 0)  # both left the group cleanly
    committed, ends = _committed_and_ends(bootstrap, topics["group"], topics["in"], partitions)
    assert committed == ends and sum(ends) == len(alerts)


def config_batch_size() -> int:
    """The batch size the tests' consumers use (see _config)."""
    return 16
