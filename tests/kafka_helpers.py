"""Small Kafka helpers for the serving tests: topics, producing, draining a topic."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, Message, Producer
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


def drain(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Message]:
    """Read a topic from the start until `expected` messages arrived (or the timeout)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("drain"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                if m.error() is None:
                    messages.append(m)
        # A short grace period catches duplicates or extras beyond `expected`.
        for m in consumer.consume(num_messages=1000, timeout=0.5):
            if m.error() is None:
                messages.append(m)
    finally:
        consumer.close()
    return messages
