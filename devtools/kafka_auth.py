"""A second, authenticating local broker: SASL/SCRAM-SHA-512 over TLS with a CA of its own.

Started by ``tests/test_kafka_auth.py`` (module fixture) beside the session's PLAINTEXT
broker, so the other tests never meet authentication. ``scripts/local-kafka start
--sasl-ssl`` does the work (``scripts/kafka/kafka_auth.py``: openssl CA and certificate,
the SCRAM credential added at format time); this module picks the password, passes it to
the script once through the environment, and gives tests the client settings. The broker
also keeps its PLAINTEXT listener, which the tests' own admin, producer and reader use.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devtools.kafka_support import (
    LOCAL_KAFKA,
    START_TIMEOUT_S,
    LocalKafkaError,
    last_error_line,
    stop_local_kafka,
)

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class AuthKafka:
    """A running SASL_SSL broker: where to connect, who may log in, the CA to trust."""

    plaintext: str  # host:port without authentication (the tests' admin and reader)
    sasl_ssl: str  # host:port the plugin must use
    user: str
    password: str
    ca: Path
    state_dir: Path

    def client_settings(self, password: str | None = None) -> dict[str, str]:
        """librdkafka settings that log in as the user (with `password` if given)."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": MECHANISM,
            "sasl.username": self.user,
            "sasl.password": self.password if password is None else password,
            "ssl.ca.location": str(self.ca),
        }


def new_password() -> str:
    """A password that no log line, metric or record could contain by chance (grep-able)."""
    return f"Pw{secrets.token_hex(16)}"


def start_auth_kafka(
    state_dir: Path, user: str = "alice", password: str | None = None,
    owner_pid: int | None = None,
) -> AuthKafka:  # fmt: skip
    """Start a broker with a SASL_SSL listener in a new state_dir; raise LocalKafkaError."""
    password = password or new_password()
    args = [str(LOCAL_KAFKA), "start", "--sasl-ssl", "--state-dir", str(state_dir)]
    if owner_pid is not None:
        args += ["--owner-pid", str(owner_pid)]
    env = {
        **os.environ,
        "PYTHON": os.environ.get("PYTHON", sys.executable),
        "LOCAL_KAFKA_SCRAM_USER": user,
        "LOCAL_KAFKA_SCRAM_PASSWORD": password,
    }
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False, env=env
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise LocalKafkaError(last_error_line(result))
    ports = json.loads((state_dir / "ports.json").read_text())
    return AuthKafka(
        plaintext=lines[-1].strip(),
        sasl_ssl=f"127.0.0.1:{ports['sasl_ssl']}",
        user=user,
        password=password,
        ca=state_dir / "tls" / "ca.pem",
        state_dir=state_dir,
    )


def stop_auth_kafka(kafka: AuthKafka) -> None:
    stop_local_kafka(kafka.state_dir)
