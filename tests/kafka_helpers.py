"""Small Kafka helpers for the serving tests: topics, producing, draining a topic."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def unique(prefix: str) -> str:
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1) -> None:
    """Create topics and wait until they exist."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    )
    for future in futures.values():
        future.result(30)


def produce_all(
    bootstrap: str, topic: str, values: list[bytes], keys: list[bytes] | None = None
) -> None:
    """Produce and wait for every delivery."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=None if keys is None else keys[i])
    assert producer.flush(30) == 0


class TopicReader:
    """Reads a whole topic from the start by direct assignment (no group join: fast)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": unique("reader"),
                "enable.auto.commit": False,
            }
        )
        metadata = self.consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        self.consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)]
        )
        self.messages: list[Message] = []

    def read(self, expected: int, timeout: float = 30.0) -> list[Message]:
        """Everything read so far, waiting until `expected` arrived or the timeout."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < expected and time.monotonic() < deadline:
            self._poll(0.2)
        return self.messages

    def _poll(self, timeout: float) -> None:
        for m in self.consumer.consume(num_messages=1000, timeout=timeout):
            if m.error() is None:
                self.messages.append(m)

    def close(self) -> None:
        self.consumer.close()


def drain(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Message]:
    """Read a topic from the start until `expected` messages arrived (or the timeout),
    then half a second more to catch duplicates or extras."""
    reader = TopicReader(bootstrap, topic)
    try:
        reader.read(expected, timeout)
        reader._poll(0.5)
        return reader.messages
    finally:
        reader.close()
