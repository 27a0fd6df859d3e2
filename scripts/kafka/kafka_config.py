"""The KRaft configuration of a local broker: ports, ``server.properties``, storage format.

A single node plays broker and controller, listens on loopback only, and keeps every
internal topic at replication 1. ``server.properties`` is rewritten on every start; the log
directory is formatted once per state directory (a new cluster id) and reused afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import uuid
from pathlib import Path

from kafka_auth import LISTENER, Auth, listener_settings
from kafka_common import LocalKafkaError, env_flag
from kafka_jars import Java, jvm_command
from kafka_state import Instance


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def choose_ports(instance: Instance, requested: int | None) -> tuple[int, int]:
    """(broker, controller) ports: the requested one, else the previous pair if free, else new."""
    previous: dict[str, int] = {}
    if instance.ports_file.is_file():
        with contextlib.suppress(ValueError, OSError):
            previous = json.loads(instance.ports_file.read_text())
    if requested:
        if not port_is_free(requested):
            raise LocalKafkaError(
                f"port {requested} on 127.0.0.1 is in use; choose another LOCAL_KAFKA_PORT "
                "or unset it to pick a free port"
            )
        broker = requested
    elif previous.get("broker") and port_is_free(previous["broker"]):
        broker = previous["broker"]
    else:
        broker = free_port()
    controller = previous.get("controller", 0)
    if not controller or controller == broker or not port_is_free(controller):
        controller = free_port()
        while controller == broker:
            controller = free_port()
    return broker, controller


def choose_sasl_port(instance: Instance, taken: tuple[int, ...]) -> int:
    """The SASL_SSL listener's port: the previous one if free, else a new one."""
    previous = 0
    with contextlib.suppress(ValueError, OSError, KeyError, TypeError):
        previous = int(json.loads(instance.ports_file.read_text())["sasl_ssl"])
    if previous and previous not in taken and port_is_free(previous):
        return previous
    port = free_port()
    while port in taken:
        port = free_port()
    return port


def server_properties(
    instance: Instance,
    broker_port: int,
    controller_port: int,
    auth: Auth | None = None,
    sasl_port: int | None = None,
) -> str:
    """Single-node settings: every internal topic with replication 1, fast group joins;
    with `auth`, a SASL_SSL listener on `sasl_port` beside PLAINTEXT (kafka_auth.py)."""
    auto_create = "true" if env_flag("LOCAL_KAFKA_AUTO_CREATE_TOPICS", False) else "false"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(instance.data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        # Few partitions for internal topics: the first group join / transaction is faster.
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": auto_create,
        "delete.topic.enable": "true",
        # LSST alerts with long histories can exceed the 1 MiB default.
        "message.max.bytes": str(10 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    }
    if auth is not None and sasl_port:
        settings["listeners"] += f",{LISTENER}://127.0.0.1:{sasl_port}"
        settings["advertised.listeners"] += f",{LISTENER}://127.0.0.1:{sasl_port}"
        settings["listener.security.protocol.map"] += f",{LISTENER}:{LISTENER}"
        settings.update(listener_settings(instance, auth, sasl_port))
    lines = ["# Written by scripts/local-kafka on every start; edits are overwritten."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A Kafka-style Uuid string (base64url, no padding) that does not start with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def format_storage(
    java: Java, libs: Path, instance: Instance, extra_args: list[str] | None = None
) -> None:
    """Format the KRaft log directory once; later starts reuse the data. `extra_args`: e.g.
    `--add-scram` (kafka_auth.py)."""
    if (instance.data_dir / "meta.properties").is_file():
        return
    cmd = [
        *jvm_command(java, libs, instance, "256m", "kafka.tools.StorageTool"),
        "format", "--cluster-id", new_cluster_id(), "--config", str(instance.properties),
        *(extra_args or []),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise LocalKafkaError(
            f"formatting {instance.data_dir} failed: {detail[-1] if detail else 'no output'}"
        )
