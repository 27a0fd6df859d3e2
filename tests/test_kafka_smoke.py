"""The local Kafka really works: a real broker started by scripts/local-kafka, real clients.

The `kafka` tests talk to the session broker (tests/conftest.py); the others check the
script's own behaviour (clear errors, stopping only its own process) without a broker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from devtools.kafka_support import (
    LOCAL_KAFKA,
    LocalKafka,
    read_topic,
    run_local_kafka,
    start_local_kafka,
    stop_local_kafka,
)

SCRIPT = LOCAL_KAFKA.parent / "kafka" / "local_kafka.py"


def delivered(producer: Producer) -> None:
    assert producer.flush(30) == 0, "messages still queued after 30 s"


# --------------------------------------------------------------------------- real broker


@pytest.mark.kafka
def test_consumer_group_reads_what_the_producer_wrote(
    kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    """A message produced with key and headers comes back intact through a consumer group."""
    topic = kafka_topic(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"ZTF21abc", value=b"\x00alert", headers=[("origin", b"smoke")])
    delivered(producer)

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"smoke-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(150):  # up to ~30 s for the group join on a busy machine
            message = consumer.poll(0.2)
            if message is not None:
                break
        assert message is not None, "no message consumed within 30 s"
        assert message.error() is None
        assert (message.key(), message.value()) == (b"ZTF21abc", b"\x00alert")
        assert message.headers() == [("origin", b"smoke")]
    finally:
        consumer.close()


@pytest.mark.kafka
def test_topic_is_created_with_the_requested_partitions(
    kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    """A 6-partition topic shows 6 partitions in the metadata, each led by the broker."""
    topic = kafka_topic(partitions=6)
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    partitions = metadata.topics[topic].partitions
    assert sorted(partitions) == list(range(6))
    assert {p.leader for p in partitions.values()} == set(metadata.brokers)


@pytest.mark.kafka
def test_committed_transaction_is_visible_to_read_committed(
    kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    """Records of a committed transaction reach a read_committed reader, in order."""
    topic = kafka_topic(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, value=f"c{i}".encode())
    producer.commit_transaction(30)

    values = [m.value() for m in read_topic(kafka_bootstrap, topic, expected=3)]
    assert values == [b"c0", b"c1", b"c2"]


@pytest.mark.kafka
def test_aborted_transaction_is_invisible_to_read_committed(
    kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    """An aborted transaction's records are written but hidden from read_committed readers."""
    topic = kafka_topic(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted")
    delivered(producer)  # really on the broker before the abort
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed")
    producer.commit_transaction(30)

    # "aborted" precedes "committed" in the log, so a leak would be the first record read.
    committed = read_topic(kafka_bootstrap, topic, expected=1)
    uncommitted = read_topic(kafka_bootstrap, topic, expected=2, isolation_level="read_uncommitted")
    assert [m.value() for m in committed] == [b"committed"]
    assert [m.value() for m in uncommitted] == [b"aborted", b"committed"]


@pytest.mark.kafka
def test_status_reports_where_the_session_broker_runs(local_kafka: LocalKafka) -> None:
    """`local-kafka status` exits 0 and names the bootstrap address of a running broker."""
    if local_kafka.state_dir is None:
        pytest.skip("external broker (SELFREG_TEST_KAFKA_BOOTSTRAP): not started by the script")
    result = run_local_kafka("status", "--state-dir", str(local_kafka.state_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"running at {local_kafka.bootstrap} " in result.stdout


@pytest.mark.kafka
def test_stop_ends_the_broker_process_and_keeps_its_data(tmp_path: Path) -> None:
    """A second instance starts on its own port; stop ends its JVM and leaves the data."""
    state_dir = tmp_path / "instance"
    try:
        bootstrap = start_local_kafka(state_dir, owner_pid=os.getpid())
        pid = int((state_dir / "kafka.pid").read_text())
        assert re.fullmatch(r"127\.0\.0\.1:\d+", bootstrap)
        assert (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .split(b"\0")[-2]
            .endswith(b"server.properties")
        )
    finally:
        stop_local_kafka(state_dir)
    assert not _alive(pid)
    status = run_local_kafka("status", "--state-dir", str(state_dir))
    assert status.returncode == 3
    assert (state_dir / "data" / "meta.properties").is_file()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --------------------------------------------------------------------------- the script alone


def run_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run local_kafka.py with exactly `env` (no inherited JAVA_HOME or PATH)."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line, which must be the last thing printed, with no traceback."""
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert errors[0].startswith("error: local-kafka: ")
    return errors[0]


def test_missing_java_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    """Without java the script says so in one line and names Java 17 and JAVA_HOME."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin), "HOME": str(tmp_path), "SELFREG_CACHE": str(tmp_path)}
    line = one_error_line(run_script("start", "--state-dir", str(tmp_path / "s"), env=env))
    assert "java is not on PATH" in line
    assert "Java 17+" in line and "JAVA_HOME" in line


def _bin_with_java(tmp_path: Path) -> Path:
    java = shutil.which("java")
    if java is None:
        pytest.skip("needs java on PATH")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(Path(java).resolve())
    return bin_dir


def test_missing_maven_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    """With java but no mvn and an empty jar cache, the error names Maven and how to get it."""
    bin_dir = _bin_with_java(tmp_path)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "SELFREG_CACHE": str(tmp_path / "c")}
    line = one_error_line(run_script("start", "--state-dir", str(tmp_path / "s"), env=env))
    assert "mvn (Apache Maven) is not on PATH" in line and "install" in line


def test_failed_fetch_is_one_line_with_maven_reason(tmp_path: Path) -> None:
    """A Maven failure is reported with Maven's own error line and the log's path."""
    bin_dir = _bin_with_java(tmp_path)
    fake_mvn = bin_dir / "mvn"
    fake_mvn.write_text(
        "#!/bin/sh\necho '[ERROR] Failed to resolve org.apache.kafka:kafka_2.13:4.3.1'\nexit 1\n"
    )
    fake_mvn.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "SELFREG_CACHE": str(tmp_path / "c")}
    line = one_error_line(run_script("start", "--state-dir", str(tmp_path / "s"), env=env))
    assert "Failed to resolve org.apache.kafka:kafka_2.13:4.3.1" in line
    assert "Maven Central" in line and "fetch.log" in line


def test_stop_never_signals_a_process_that_is_not_its_broker(tmp_path: Path) -> None:
    """If the recorded PID now belongs to another process, stop leaves that process alone."""
    state_dir = tmp_path / "s"
    state_dir.mkdir()
    (state_dir / ".local-kafka").write_text("4.3.1\n")
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        (state_dir / "kafka.pid").write_text(f"{bystander.pid}\n")
        result = run_script("stop", "--state-dir", str(state_dir), env=dict(os.environ))
        assert result.returncode == 0
        assert "no longer this broker" in result.stderr
        assert bystander.poll() is None, "stop killed a process that was not its broker"
    finally:
        bystander.kill()
        bystander.wait()
