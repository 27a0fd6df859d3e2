"""A real single-node Apache Kafka (KRaft, broker+controller) for tests and the demo.

Run through ``scripts/local-kafka start|stop|status``. Standard library only, so it works
before (and without) the project's virtual environment.

Why like this: the tests must talk to the broker that production talks to, not a mock, and a
fresh machine has Java and Maven but no Kafka distribution. So Kafka's own jars
(``org.apache.kafka:kafka_2.13``) are fetched once with Maven into a cache outside the clone,
a KRaft log directory is formatted once per state directory, and the broker listens on
loopback only. Each state directory is an independent instance, so a test session and a
demo never share a broker. ``stop`` stops the process by the PID this script recorded and
checks it is still that broker before signalling it.

Environment (all optional):
  SELFREG_CACHE                 cache root (default ~/.cache/selfreg-varstars)
  LOCAL_KAFKA_VERSION           Kafka version (default {version})
  LOCAL_KAFKA_NAME              instance name under $SELFREG_CACHE/kafka-run (default "default")
  LOCAL_KAFKA_STATE_DIR         state directory (overrides LOCAL_KAFKA_NAME)
  LOCAL_KAFKA_PORT              broker port (default: the previous one if free, else any free)
  LOCAL_KAFKA_HEAP              JVM max heap (default 512m)
  LOCAL_KAFKA_START_TIMEOUT     seconds to wait for the broker to answer (default 90)
  LOCAL_KAFKA_AUTO_CREATE_TOPICS  "true" to let the broker auto-create topics (default false)
  LOCAL_KAFKA_JVM_OPTS          JVM options replacing the defaults ({jvm_opts})
  LOCAL_KAFKA_CDS               "false" to not use or write a class-data-sharing archive
  JAVA_HOME                     JDK/JRE to use (Kafka 4.x brokers need Java 17+)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERSION = "4.3.1"
MIN_JAVA = 17
HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
MARKER = ".local-kafka"  # present in every state directory this script created
STOP_GRACE_S = 30.0
# One small node on a shared machine: the serial GC uses least memory, and C1-only JIT
# starts ~35 % faster when cores are busy (broker throughput is not what tests measure).
DEFAULT_JVM_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"

__doc__ = __doc__.format(version=DEFAULT_VERSION, jvm_opts=DEFAULT_JVM_OPTS)


class LocalKafkaError(Exception):
    """A failure the user can fix; printed as one line, no traceback."""


def log(message: str) -> None:
    """Progress goes to stderr: stdout is reserved for the bootstrap address."""
    print(f"local-kafka: {message}", file=sys.stderr, flush=True)


def env_flag(name: str, default: bool) -> bool:
    """Parse a boolean environment variable strictly (the string "false" is false)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise LocalKafkaError(f"{name}={raw!r} is not a boolean; use true or false")


def env_float(name: str, default: float) -> float:
    """Parse a positive number from the environment, with a one-line error."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise LocalKafkaError(f"{name}={raw!r} is not a positive number of seconds")
    return value


# --------------------------------------------------------------------------- locations


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


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise concurrent starts/fetches (parallel test sessions, a demo beside them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- java and jars


@dataclass(frozen=True)
class Java:
    """A java binary and its full `java -version` text (keys the class-data-sharing archive)."""

    path: str
    version_text: str


def find_java() -> Java:
    """The java binary (JAVA_HOME first), checked to be Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "java is not on PATH"
        raise LocalKafkaError(
            f"{where}; Kafka 4.x needs Java {MIN_JAVA}+: install openjdk-17-jre-headless "
            "or set JAVA_HOME to a JDK 17+"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise LocalKafkaError(f"could not read the version of {java} (`{java} -version` failed)")
    major = int(match.group(1))
    if major == 1:  # "1.8.0_x" style
        major = int(match.group(2) or 0)
    if major < MIN_JAVA:
        raise LocalKafkaError(
            f"{java} is Java {major}; Kafka 4.x brokers need Java {MIN_JAVA}+: "
            "set JAVA_HOME to a newer JDK (e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
        )
    return Java(java, out.stderr + out.stdout)


def jars_dir(version: str) -> Path:
    return cache_root() / f"kafka-{version}" / "libs"


def fetch_jars(version: str) -> Path:
    """Kafka's runtime jars in the cache, fetched with Maven the first time only."""
    libs = jars_dir(version)
    if (libs / ".complete").is_file():
        return libs
    with file_lock(libs.parent / "fetch.lock"):
        if (libs / ".complete").is_file():  # another process fetched while we waited
            return libs
        mvn = shutil.which("mvn")
        if not mvn:
            raise LocalKafkaError(
                "mvn (Apache Maven) is not on PATH; it fetches Kafka's jars once: "
                "install it (e.g. apt-get install maven) and retry"
            )
        staging = libs.parent / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        fetch_log = libs.parent / "fetch.log"
        log(f"fetching Apache Kafka {version} jars with Maven into {libs} (first time only)")
        started = time.monotonic()
        cmd = [
            mvn, "-B", "--no-transfer-progress", "-f", str(POM),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]  # fmt: skip
        with fetch_log.open("w") as out:
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0 or not (staging / f"kafka_2.13-{version}.jar").is_file():
            reason = last_matching_line(fetch_log, r"\[ERROR\]") or "no jars were copied"
            raise LocalKafkaError(
                f"fetching org.apache.kafka:kafka_2.13:{version} with Maven failed ({reason}); "
                f"check access to Maven Central (or a mirror in ~/.m2/settings.xml); "
                f"full log: {fetch_log}"
            )
        (staging / ".complete").write_text(f"{version}\n")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        log(f"fetched {len(list(libs.glob('*.jar')))} jars in {time.monotonic() - started:.1f} s")
    return libs


def last_matching_line(path: Path, pattern: str) -> str | None:
    """The last line of a log matching a pattern, ANSI colours removed, for one-line errors."""
    if not path.is_file():
        return None
    found = None
    regex = re.compile(pattern)
    for line in path.read_text(errors="replace").splitlines():
        if regex.search(line):
            found = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
    if found and len(found) > 300:
        found = found[:300] + "..."
    return found


# --------------------------------------------------------------------------- configuration


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


def server_properties(instance: Instance, broker_port: int, controller_port: int) -> str:
    """Single-node settings: every internal topic with replication 1, fast group joins."""
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
    lines = ["# Written by scripts/local-kafka on every start; edits are overwritten."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def cds_archive(java: Java, libs: Path) -> Path:
    """Where the class-data-sharing archive for this Java and these jars lives.

    Loading Kafka's ~10,000 classes from an archive instead of 46 jars cuts start-up by
    roughly 40 % on a busy machine. The archive is written by the first broker this script
    stops cleanly (-XX:ArchiveClassesAtExit) and used by every later JVM; a stale or
    mismatched archive is ignored by the JVM (-Xshare:auto), never fatal.
    """
    key = hashlib.sha256(f"{java.path}\n{java.version_text}".encode()).hexdigest()[:12]
    return libs.parent / f"classes-{key}.jsa"


def jvm_command(
    java: Java, libs: Path, instance: Instance, heap: str, main: str, dump_cds: bool = False
) -> list[str]:
    """The JVM command line; dump_cds makes this JVM write a CDS archive when it exits."""
    cds: list[str] = []
    if env_flag("LOCAL_KAFKA_CDS", True):
        archive = cds_archive(java, libs)
        if archive.is_file():
            cds = [f"-XX:SharedArchiveFile={archive}"]
        elif dump_cds:
            # quiet: the dump lists every class it skips (old bytecode, unlinked classes)
            cds = [f"-XX:ArchiveClassesAtExit={instance.cds_dump}", "-Xlog:cds*=error"]
    return [
        java.path,
        f"-Xmx{heap}",
        "-Xms64m",
        *os.environ.get("LOCAL_KAFKA_JVM_OPTS", DEFAULT_JVM_OPTS).split(),
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={instance.logs_dir}",
        *cds,
        "-cp",
        str(libs / "*"),
        main,
    ]


def new_cluster_id() -> str:
    """A Kafka-style Uuid string (base64url, no padding) that does not start with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def format_storage(java: Java, libs: Path, instance: Instance) -> None:
    """Format the KRaft log directory once; later starts reuse the data."""
    if (instance.data_dir / "meta.properties").is_file():
        return
    cmd = [
        *jvm_command(java, libs, instance, "256m", "kafka.tools.StorageTool"),
        "format", "--cluster-id", new_cluster_id(), "--config", str(instance.properties),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise LocalKafkaError(
            f"formatting {instance.data_dir} failed: {detail[-1] if detail else 'no output'}"
        )


# --------------------------------------------------------------------------- processes


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


def recorded_pid(instance: Instance) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(instance.pid_file.read_text().strip())
    return None


def running_pid(instance: Instance) -> int | None:
    pid = recorded_pid(instance)
    return pid if pid is not None and is_our_broker(pid, instance) else None


def bootstrap_of(instance: Instance) -> str | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return f"127.0.0.1:{json.loads(instance.ports_file.read_text())['broker']}"
    return None


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


# --------------------------------------------------------------------------- commands


def start(instance: Instance, port: int | None, timeout_s: float, owner_pid: int | None) -> str:
    """Start (or find running) the broker and return its bootstrap address."""
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
        attempts = 1 if port else 3  # a free port can be taken between probe and bind
        for attempt in range(1, attempts + 1):
            address = launch(instance, java, libs, port, timeout_s, owner_pid, attempt < attempts)
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
) -> str | None:
    """One start attempt. None means "a port was taken; try again with others"."""
    broker_port, controller_port = choose_ports(instance, port)
    instance.properties.write_text(server_properties(instance, broker_port, controller_port))
    instance.ports_file.write_text(
        json.dumps({"broker": broker_port, "controller": controller_port}) + "\n"
    )
    instance.logs_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    format_storage(java, libs, instance)
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
        [sys.executable, str(Path(__file__).resolve()), "_watch",
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
        return 0
    print(f"not answering at {address} (pid {pid}); see {instance.server_log}")
    return 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="local-kafka",
        description="Start, stop or inspect a local single-node Apache Kafka (KRaft).",
        epilog=__doc__.split("Environment (all optional):", 1)[1].join(["Environment:", ""]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{start,stop,status}")
    p_start = sub.add_parser("start", help="start (or reuse) the broker; prints host:port last")
    p_stop = sub.add_parser("stop", help="stop the broker by its recorded PID")
    p_status = sub.add_parser("status", help="say whether it runs and where")
    for p in (p_start, p_stop, p_status):
        p.add_argument("--state-dir", help="instance directory (env LOCAL_KAFKA_STATE_DIR)")
    p_start.add_argument("--port", type=int, help="broker port (env LOCAL_KAFKA_PORT)")
    p_start.add_argument("--timeout", type=float, help="seconds to wait for it to answer")
    p_start.add_argument(
        "--owner-pid", type=int, help="stop the broker when this process exits (for tests)"
    )
    p_stop.add_argument(
        "--purge", action="store_true", help="also delete the state directory (data and logs)"
    )
    p_watch = sub.add_parser("_watch")  # internal: the owner watchdog
    p_watch.add_argument("--state-dir", required=True)
    p_watch.add_argument("--broker-pid", type=int, required=True)
    p_watch.add_argument("--owner-pid", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        instance = default_instance(args.state_dir)
        if args.command == "start":
            port = args.port or int(os.environ.get("LOCAL_KAFKA_PORT") or 0) or None
            timeout_s = args.timeout or env_float("LOCAL_KAFKA_START_TIMEOUT", 90.0)
            print(start(instance, port, timeout_s, args.owner_pid), flush=True)
        elif args.command == "stop":
            stop(instance, args.purge)
        elif args.command == "status":
            return status(instance)
        elif args.command == "_watch":
            watch(instance, args.broker_pid, args.owner_pid)
    except LocalKafkaError as err:
        print(f"error: local-kafka: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # e.g. LOCAL_KAFKA_PORT=abc
        print(f"error: local-kafka: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
