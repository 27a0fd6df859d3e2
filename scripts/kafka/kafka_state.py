"""Where a local broker keeps its state: the instance directory, its files, the cache root.

One state directory is one independent broker (configuration, KRaft data, logs, PID file,
ports). This module names those files and reads the small ones back (recorded PID, ports);
it starts and stops nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kafka_common import LocalKafkaError

DEFAULT_VERSION = "4.3.1"
MARKER = ".local-kafka"  # present in every state directory this script created


@dataclass(frozen=True)
class Instance:
    """Where one local broker keeps its configuration, data, logs and PID."""

    state_dir: Path

    @property
    def properties(self) -> Path:
        return self.state_dir / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def ports_file(self) -> Path:
        return self.state_dir / "ports.json"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.logs_dir / "stdout.log"

    @property
    def cds_dump(self) -> Path:
        return self.state_dir / "classes.jsa"

    @property
    def tls_dir(self) -> Path:
        """The CA and broker certificate of a SASL_SSL instance (kafka_auth.py)."""
        return self.state_dir / "tls"

    @property
    def auth_file(self) -> Path:
        """Present when the instance has a SASL_SSL listener: mechanism and user, no secret."""
        return self.state_dir / "auth.json"

    @property
    def runtime_file(self) -> Path:
        """Java and jars of the running broker, so `stop` can adopt its CDS archive."""
        return self.state_dir / "runtime.json"


def cache_root() -> Path:
    return Path(os.environ.get("SELFREG_CACHE", Path.home() / ".cache" / "selfreg-varstars"))


def kafka_version() -> str:
    version = os.environ.get("LOCAL_KAFKA_VERSION", DEFAULT_VERSION).strip()
    if not re.fullmatch(r"4\.\d+\.\d+", version):
        raise LocalKafkaError(
            f"LOCAL_KAFKA_VERSION={version!r} is not a Kafka 4.x version such as {DEFAULT_VERSION}"
        )
    return version


def default_instance(state_dir: str | None) -> Instance:
    chosen = state_dir or os.environ.get("LOCAL_KAFKA_STATE_DIR")
    if chosen:
        return Instance(Path(chosen).expanduser().resolve())
    name = os.environ.get("LOCAL_KAFKA_NAME", "default")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise LocalKafkaError(f"LOCAL_KAFKA_NAME={name!r} may use only letters, digits, . _ -")
    return Instance(cache_root() / "kafka-run" / name)


def recorded_pid(instance: Instance) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(instance.pid_file.read_text().strip())
    return None


def bootstrap_of(instance: Instance) -> str | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return f"127.0.0.1:{json.loads(instance.ports_file.read_text())['broker']}"
    return None
