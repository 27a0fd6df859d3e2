"""The broker's process from outside: is the PID alive and ours, does Kafka answer, stop it.

`is_our_broker` guards against PID reuse: a recorded PID is only trusted while its command
line still names this instance's ``server.properties``. `answers` asks the broker for its
metadata over Kafka's own wire protocol (no client library: this script runs before the
project's virtual environment exists).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import time
from pathlib import Path

from kafka_state import Instance, recorded_pid


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # state is the field after the parenthesised command name
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def is_our_broker(pid: int, instance: Instance) -> bool:
    """The PID still belongs to this instance's broker (guards against PID reuse)."""
    if not pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # no procfs: trust the PID file
        return True
    with contextlib.suppress(OSError):
        args = cmdline.read_bytes().split(b"\0")
        return b"kafka.Kafka" in args and str(instance.properties).encode() in args
    return False


def running_pid(instance: Instance) -> int | None:
    pid = recorded_pid(instance)
    return pid if pid is not None and is_our_broker(pid, instance) else None


def metadata_brokers(port: int, timeout: float = 2.0) -> int:
    """Number of live brokers in a Metadata (v8) answer from 127.0.0.1:port.

    A KRaft broker lists itself only once it has caught up with the controller and been
    unfenced, which is exactly when topics can be created and produced to.
    """
    client_id = b"local-kafka"
    body = struct.pack(">hhih", 3, 8, 1, len(client_id)) + client_id  # Metadata v8, corr 1
    body += struct.pack(">i???", 0, False, False, False)  # no topics, no auto-create, no ACL ops
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = recv_exact(sock, 16)
    _size, correlation, _throttle, brokers = struct.unpack(">iiii", header)
    if correlation != 1:
        raise OSError("unexpected correlation id in Metadata response")
    return brokers


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed by the broker")
        data += chunk
    return data


def answers(port: int) -> bool:
    try:
        return metadata_brokers(port) >= 1
    except (OSError, struct.error):
        return False


def terminate(pid: int, grace_s: float) -> bool:
    """SIGTERM, wait up to grace_s, then SIGKILL. True when it stopped within the grace."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    return False
