"""Helpers for tests that talk to a real Kafka broker (started by ``scripts/local-kafka``).

The fixtures in ``tests/conftest.py`` use these; tests import the helpers directly when they
need to create topics or read a topic back (``from tests.kafka_support import read_topic``).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
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
    """A topic name no other test (or earlier run on a shared broker) uses."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:80] or "test"
    return f"{safe}-{uuid.uuid4().hex[:10]}"


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    config: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> str:
    """Create a topic and wait until the broker's metadata shows all its partitions led."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    futures[name].result(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topic = admin.list_topics(topic=name, timeout=5).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return name
        time.sleep(0.1)
    raise TimeoutError(f"topic {name} did not get {partitions} led partitions in {timeout_s} s")


def delete_topics(bootstrap: str, names: list[str], timeout_s: float = 10.0) -> None:
    """Delete topics; best effort (a broker stopping at session end is not a test failure)."""
    if not names:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=timeout_s).values():
        with contextlib.suppress(KafkaException, TimeoutError):
            future.result(timeout=timeout_s)


def read_topic(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout_s: float = 30.0,
    isolation_level: str = "read_committed",
) -> list[Message]:
    """Read a topic from the beginning of every partition until `expected` messages arrive.

    Uses assign() without a consumer group (no rebalance wait), so it is the quick way to
    check what a component under test produced. Returns what it has at the timeout, so the
    caller's assertion shows how many were missing.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",  # required by librdkafka, not joined
            "enable.auto.commit": False,
            "isolation.level": isolation_level,
        }
    )
    try:
        metadata = consumer.list_topics(topic=topic, timeout=10).topics[topic]
        consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(metadata.partitions)]
        )
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            messages.append(message)
        return messages
    finally:
        consumer.close()
