"""The one module of helpers for tests and benchmarks that talk to a real Kafka broker.

The broker is started by ``scripts/local-kafka`` through the session fixture in
``tests/conftest.py`` (or is an existing one named by ``SELFREG_TEST_KAFKA_BOOTSTRAP``, the
only variable tests read for that). Tests and ``bench/bench_serving.py`` import the rest
directly: unique names, topic creation, producing, and reading a topic back
(``from devtools.kafka_support import read_topic``).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_KAFKA = PROJECT_ROOT / "scripts" / "local-kafka"
# Cold start includes a one-time Maven fetch of Kafka's jars (about 10-40 s here).
START_TIMEOUT_S = 600.0


class LocalKafkaError(RuntimeError):
    """`scripts/local-kafka` failed; the message is its one-line error."""


@dataclass(frozen=True)
class LocalKafka:
    """A broker the tests use: its bootstrap address and, when we started it, its state."""

    bootstrap: str
    state_dir: Path | None  # None for an external broker (SELFREG_TEST_KAFKA_BOOTSTRAP)


def run_local_kafka(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run the script (stdout and stderr captured as text); never raises on exit status."""
    return subprocess.run(
        [str(LOCAL_KAFKA), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)},
    )


def bench_kafka() -> str:
    """Bootstrap address of the named local broker the benchmarks share (LOCAL_KAFKA_NAME,
    default "bench"), started if it is not running: one broker across bench runs."""
    env = {**os.environ, "LOCAL_KAFKA_NAME": os.environ.get("LOCAL_KAFKA_NAME", "bench")}
    out = subprocess.run([str(LOCAL_KAFKA), "start"], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def last_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}, no output"


def start_local_kafka(state_dir: Path, owner_pid: int | None = None) -> str:
    """Start a private broker in state_dir and return its "host:port".

    owner_pid makes the script stop the broker if that process dies without stopping it
    (a pytest run killed by a timeout must not leave a JVM behind).
    """
    args = ["start", "--state-dir", str(state_dir)]
    if owner_pid is not None:
        args += ["--owner-pid", str(owner_pid)]
    result = run_local_kafka(*args, timeout=START_TIMEOUT_S)
    stdout_lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not stdout_lines:
        raise LocalKafkaError(last_error_line(result))
    return stdout_lines[-1].strip()


def stop_local_kafka(state_dir: Path) -> None:
    result = run_local_kafka("stop", "--state-dir", str(state_dir), timeout=90.0)
    if result.returncode != 0:
        raise LocalKafkaError(last_error_line(result))


def unique_topic_name(label: str = "test") -> str:
    """A topic (or group, or transactional id) name no other test or earlier run uses."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:80] or "test"
    return f"{safe}-{uuid.uuid4().hex[:10]}"


def create_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 1,
    config: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create topics and wait until the broker's metadata shows all their partitions led.

    Waiting for leaders (not just the create call) matters: a producer that starts at once
    otherwise meets UNKNOWN_TOPIC_OR_PART or LEADER_NOT_AVAILABLE on a fresh broker.
    """
    names = list(names)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [
            NewTopic(n, num_partitions=partitions, replication_factor=1, config=config or {})
            for n in names
        ],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    for future in futures.values():
        future.result(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    pending = set(names)
    while pending and time.monotonic() < deadline:
        topics = admin.list_topics(timeout=5).topics
        for name in list(pending):
            topic = topics.get(name)
            if (
                topic is not None
                and topic.error is None
                and len(topic.partitions) == partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            ):
                pending.discard(name)
        if pending:
            time.sleep(0.1)
    if pending:
        raise TimeoutError(
            f"topics {sorted(pending)} did not get {partitions} led partitions in {timeout_s} s"
        )
    return names


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    config: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> str:
    """Create one topic (see create_topics) and return its name."""
    return create_topics(bootstrap, [name], partitions, config, timeout_s)[0]


def delete_topics(bootstrap: str, names: list[str], timeout_s: float = 10.0) -> None:
    """Delete topics; best effort (a broker stopping at session end is not a test failure)."""
    if not names:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=timeout_s).values():
        with contextlib.suppress(KafkaException, TimeoutError):
            future.result(timeout=timeout_s)


def produce_all(
    bootstrap: str, topic: str, values: list[bytes], keys: list[bytes] | None = None
) -> None:
    """Produce `values` in order and wait for every delivery.

    Without keys, message i goes to partition i mod n explicitly: librdkafka's sticky
    partitioner would put a small keyless batch on one partition and leave the others
    empty (their committed offset then stays OFFSET_INVALID), at random.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    n_partitions = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    for i, value in enumerate(values):
        if keys is None:
            producer.produce(topic, value=value, partition=i % n_partitions)
        else:
            producer.produce(topic, value=value, key=keys[i])
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} of {len(values)} messages to {topic} not delivered"


class TopicReader:
    """Reads a whole topic from the start, incrementally, by direct assignment.

    assign() without joining a group means no rebalance wait, so it is the quick way to check
    what a component under test produced, also while it is still producing.
    """

    def __init__(
        self, bootstrap: str, topic: str, isolation_level: str = "read_committed",
        **settings: object,
    ) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": unique_topic_name("reader"),  # required by librdkafka, not joined
                "enable.auto.commit": False,
                "isolation.level": isolation_level,
                **settings,
            }
        )
        metadata = self.consumer.list_topics(topic=topic, timeout=10).topics[topic]
        self.consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(metadata.partitions)]
        )
        self.messages: list[Message] = []

    def read(self, expected: int, timeout_s: float = 30.0) -> list[Message]:
        """Everything read so far, waiting until `expected` arrived or the timeout.

        It counts records, duplicates included: to wait for *distinct* outputs of an
        at-least-once consumer (which redelivers after a crash), use `read_until`.
        """
        return self.read_until(lambda messages: len(messages) >= expected, timeout_s)

    def read_until(
        self, done: Callable[[list[Message]], bool], timeout_s: float = 30.0
    ) -> list[Message]:
        """Everything read so far, polling until `done(messages)` holds or the timeout."""
        deadline = time.monotonic() + timeout_s
        while not done(self.messages) and time.monotonic() < deadline:
            self.poll(0.2)
        return self.messages

    def poll(self, timeout_s: float) -> None:
        """One consume call; a message carrying an error fails the test with that error."""
        for message in self.consumer.consume(num_messages=1000, timeout=timeout_s):
            if message.error():
                raise KafkaException(message.error())
            self.messages.append(message)

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_topic(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout_s: float = 30.0,
    isolation_level: str = "read_committed",
    settle_s: float = 0.0,
) -> list[Message]:
    """Read a topic from the beginning of every partition until `expected` messages arrive.

    Returns what it has at the timeout, so the caller's assertion shows how many were
    missing. `settle_s` keeps reading that long afterwards, to catch extras or duplicates.
    """
    with TopicReader(bootstrap, topic, isolation_level) as reader:
        reader.read(expected, timeout_s)
        if settle_s > 0:
            reader.poll(settle_s)
        return reader.messages
