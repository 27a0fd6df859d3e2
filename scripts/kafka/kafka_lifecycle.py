"""Start, stop and inspect one local broker: the commands behind ``scripts/local-kafka``.

`start` finds a running broker or launches one (format storage once, start the JVM, wait
until Kafka answers, retry on a port taken meanwhile), and with an owner PID leaves a
watchdog that stops the broker when its owner dies. `stop` signals only a PID that is still
this instance's broker, and keeps the class-data-sharing archive a clean stop wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kafka_auth import Auth, load_auth, prepare, sasl_port_of
from kafka_common import LocalKafkaError, file_lock, last_matching_line, log
from kafka_config import choose_ports, choose_sasl_port, format_storage, server_properties
from kafka_jars import Java, cds_archive, fetch_jars, find_java, jvm_command
from kafka_process import answers, is_our_broker, pid_alive, running_pid, terminate
from kafka_state import MARKER, Instance, bootstrap_of, kafka_version, recorded_pid

CLI = Path(__file__).resolve().parent / "local_kafka.py"  # the watchdog runs `CLI _watch`
STOP_GRACE_S = 30.0


def start(
    instance: Instance,
    port: int | None,
    timeout_s: float,
    owner_pid: int | None,
    sasl_ssl: bool = False,
) -> str:
    """Start (or find running) the broker and return its (PLAINTEXT) bootstrap address;
    `sasl_ssl` adds a SASL_SSL listener (kafka_auth.py) to a new instance."""
    version = kafka_version()
    instance.state_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(instance.state_dir / ".lock"):
        marker = instance.state_dir / MARKER
        if not marker.exists() and any(instance.state_dir.iterdir()):
            other = [p.name for p in instance.state_dir.iterdir() if p.name != ".lock"]
            if other:
                raise LocalKafkaError(
                    f"{instance.state_dir} is not empty and was not created by local-kafka; "
                    "choose another LOCAL_KAFKA_STATE_DIR"
                )
        marker.write_text(f"{version}\n")
        pid = running_pid(instance)
        if pid is not None:
            address = bootstrap_of(instance)
            if address and answers(int(address.rsplit(":", 1)[1])):
                log(f"already running (pid {pid}) at {address}")
                return address
            raise LocalKafkaError(
                f"a broker (pid {pid}) runs for {instance.state_dir} but does not answer; "
                f"see {instance.server_log}, or run `scripts/local-kafka stop` first"
            )
        java = find_java()
        libs = fetch_jars(version)
        auth, format_args = prepare(instance, sasl_ssl)
        attempts = 1 if port else 3  # a free port can be taken between probe and bind
        for attempt in range(1, attempts + 1):
            address = launch(
                instance, java, libs, port, timeout_s, owner_pid, attempt < attempts,
                auth, format_args,
            )  # fmt: skip
            if address:
                return address
        raise AssertionError("unreachable: launch either returns or raises")


def launch(
    instance: Instance,
    java: Java,
    libs: Path,
    port: int | None,
    timeout_s: float,
    owner_pid: int | None,
    may_retry: bool,
    auth: Auth | None = None,
    format_args: list[str] | None = None,
) -> str | None:
    """One start attempt. None means "a port was taken; try again with others"."""
    broker_port, controller_port = choose_ports(instance, port)
    ports = {"broker": broker_port, "controller": controller_port}
    if auth is not None:
        ports["sasl_ssl"] = choose_sasl_port(instance, (broker_port, controller_port))
    instance.properties.write_text(
        server_properties(instance, broker_port, controller_port, auth, ports.get("sasl_ssl"))
    )
    instance.properties.chmod(0o600)  # with a SASL_SSL listener it holds the TLS key password
    instance.ports_file.write_text(json.dumps(ports) + "\n")
    instance.logs_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    format_storage(java, libs, instance, format_args)
    heap = os.environ.get("LOCAL_KAFKA_HEAP", "512m")
    if not re.fullmatch(r"\d+[kKmMgG]?", heap):
        raise LocalKafkaError(f"LOCAL_KAFKA_HEAP={heap!r} is not a JVM size such as 512m")
    instance.cds_dump.unlink(missing_ok=True)
    command = jvm_command(java, libs, instance, heap, "kafka.Kafka", dump_cds=True)
    cmd = [*command, str(instance.properties)]
    instance.runtime_file.write_text(
        json.dumps({"java": java.path, "version_text": java.version_text, "libs": str(libs)})
    )
    with instance.stdout_log.open("ab") as out:
        out.write(f"\n=== local-kafka start {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=instance.state_dir, start_new_session=True,
        )  # fmt: skip
    instance.pid_file.write_text(f"{proc.pid}\n")
    address = f"127.0.0.1:{broker_port}"
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            instance.pid_file.unlink(missing_ok=True)
            in_use = last_matching_line(instance.stdout_log, r"Address already in use")
            in_use = in_use or last_matching_line(instance.server_log, r"Address already in use")
            if in_use and may_retry:
                log("a port was taken meanwhile; retrying with other ports")
                instance.ports_file.unlink(missing_ok=True)
                return None
            reason = (
                last_matching_line(instance.server_log, r"\b(ERROR|FATAL)\b")
                or last_matching_line(instance.stdout_log, r"(Exception|Error)")
                or f"exit status {proc.returncode}"
            )
            raise LocalKafkaError(
                f"the broker exited during start-up ({reason}); logs: {instance.logs_dir}"
            )
        if answers(broker_port):
            log(f"Kafka answers at {address} after {time.monotonic() - started:.1f} s "
                f"(pid {proc.pid}, state {instance.state_dir})")  # fmt: skip
            if auth is not None:
                log(f"SASL_SSL ({auth.mechanism}, user {auth.user}) at "
                    f"127.0.0.1:{ports['sasl_ssl']}; CA for clients: {auth.ca}")  # fmt: skip
            if owner_pid:
                spawn_watchdog(instance, proc.pid, owner_pid)
            return address
        time.sleep(0.2)
    terminate(proc.pid, 10.0)
    proc.poll()
    instance.pid_file.unlink(missing_ok=True)
    raise LocalKafkaError(
        f"the broker did not answer at {address} within {timeout_s:.0f} s and was stopped; "
        f"see {instance.server_log} (raise LOCAL_KAFKA_START_TIMEOUT on a slow machine)"
    )


def spawn_watchdog(instance: Instance, broker_pid: int, owner_pid: int) -> None:
    """Stop the broker when its owner (e.g. a killed pytest) dies without stopping it."""
    subprocess.Popen(
        [sys.executable, str(CLI), "_watch",
         "--state-dir", str(instance.state_dir),
         "--broker-pid", str(broker_pid), "--owner-pid", str(owner_pid)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def watch(instance: Instance, broker_pid: int, owner_pid: int) -> None:
    while is_our_broker(broker_pid, instance):
        if not pid_alive(owner_pid):
            terminate(broker_pid, STOP_GRACE_S)
            if recorded_pid(instance) == broker_pid:
                instance.pid_file.unlink(missing_ok=True)
            return
        time.sleep(1.0)


def adopt_cds_archive(instance: Instance) -> None:
    """Move the CDS archive a cleanly stopped broker wrote into the shared jar cache."""
    dump = instance.cds_dump
    if not dump.is_file() or dump.stat().st_size == 0:
        return
    try:
        runtime = json.loads(instance.runtime_file.read_text())
        target = cds_archive(Java(runtime["java"], runtime["version_text"]), Path(runtime["libs"]))
        if not target.is_file():
            staging = target.with_suffix(f".{os.getpid()}.partial")
            shutil.copyfile(dump, staging)
            os.replace(staging, target)  # atomic: a concurrent JVM never maps a half file
            log(f"saved a class-data-sharing archive for faster starts: {target}")
    except (OSError, ValueError, KeyError):
        pass  # an optimisation only; the next start simply runs without it
    finally:
        dump.unlink(missing_ok=True)


def stop(instance: Instance, purge: bool) -> None:
    """Stop this instance's broker by its recorded PID; with purge, delete its state dir."""
    if not instance.state_dir.exists():
        log(f"not running (no state at {instance.state_dir})")
        return
    with file_lock(instance.state_dir / ".lock"):
        pid = recorded_pid(instance)
        if pid is not None and is_our_broker(pid, instance):
            started = time.monotonic()
            clean = terminate(pid, STOP_GRACE_S)
            how = "stopped" if clean else f"killed (no exit within {STOP_GRACE_S:.0f} s of SIGTERM)"
            log(f"{how} pid {pid} in {time.monotonic() - started:.1f} s")
            if clean:
                adopt_cds_archive(instance)
        elif pid is not None:
            log(f"pid {pid} in {instance.pid_file} is no longer this broker; nothing to stop")
        else:
            log(f"not running ({instance.state_dir})")
        instance.pid_file.unlink(missing_ok=True)
    if purge:
        if not (instance.state_dir / MARKER).exists():
            raise LocalKafkaError(
                f"{instance.state_dir} was not created by local-kafka; not deleting it"
            )
        shutil.rmtree(instance.state_dir)
        log(f"deleted {instance.state_dir}")


def status(instance: Instance) -> int:
    """Print where the broker runs; exit 0 if it answers, 1 if alive but mute, 3 if stopped."""
    pid = running_pid(instance)
    if pid is None:
        print(f"stopped (state {instance.state_dir})")
        return 3
    address = bootstrap_of(instance) or "unknown address"
    if address.startswith("127.0.0.1:") and answers(int(address.rsplit(":", 1)[1])):
        print(f"running at {address} (pid {pid}, state {instance.state_dir}, "
              f"log {instance.server_log})")  # fmt: skip
        auth, sasl_port = load_auth(instance), sasl_port_of(instance)
        if auth is not None and sasl_port:
            print(f"SASL_SSL ({auth.mechanism}, user {auth.user}) at 127.0.0.1:{sasl_port}, "
                  f"CA {auth.ca}")  # fmt: skip
        return 0
    print(f"not answering at {address} (pid {pid}); see {instance.server_log}")
    return 1
