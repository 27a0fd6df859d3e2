"""Real authentication: the plugin against a broker that checks SASL/SCRAM-SHA-512 over TLS.

A second broker (devtools/kafka_auth.py: `scripts/local-kafka start --sasl-ssl`, a CA made
with openssl, the SCRAM user added at format time) runs for this module only, so the
session's PLAINTEXT broker and the other tests are unaffected. With the right secret the
plugin classifies compact alerts end to end through SASL_SSL and dead-letters the poison;
with a wrong one it stops in one line (exit status 2, no traceback). Whichever way the
password is given (`-X sasl.password=`, BROKER_PLUGIN_SASL_PASSWORD, or inside
BROKER_PLUGIN_KAFKA_SETTINGS), it appears in no log line (DEBUG level, librdkafka's
security and conf debug included), no /metrics, /healthz or /readyz answer, and no output
or dead-letter record (values, keys, headers).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.kafka_auth import AuthKafka, start_auth_kafka, stop_auth_kafka
from devtools.kafka_support import (
    LocalKafkaError,
    TopicReader,
    create_topics,
    produce_all,
    unique_topic_name,
)
from devtools.loopback import free_port, http_get

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N_OBJECTS = 10
ALERTS_PER_OBJECT = 2
POISON = [b"not an alert at all", b"\x00\x00\x00\x00\x07 truncated wire frame"]
#: How the password reaches the plugin.
MODES = ("cli-X", "env-sasl-password", "env-kafka-settings")


@pytest.fixture(scope="module")
def auth_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthKafka]:
    state = tmp_path_factory.mktemp("auth-kafka")
    try:
        kafka = start_auth_kafka(state, owner_pid=os.getpid())
    except LocalKafkaError as err:
        pytest.fail(f"could not start the SASL_SSL test broker: {err}", pytrace=False)
    try:
        yield kafka
    finally:
        stop_auth_kafka(kafka)


@pytest.fixture(scope="module")
def alerts() -> list[bytes]:
    """Compact alerts (self-describing Avro containers: no schema source needed)."""
    from broker_plugin.serving.produce import iter_alerts
    from devtools.serving_data import periodic_curves

    curves = periodic_curves(N_OBJECTS, points=30, seed=5)
    return [payload for _, payload in iter_alerts(curves, "compact", "11.1", ALERTS_PER_OBJECT)]


@dataclass
class Topics:
    input: str
    output: str
    dlq: str
    group: str


def make_topics(kafka: AuthKafka, label: str, payloads: list[bytes]) -> Topics:
    """Topics created and filled over the PLAINTEXT listener (the plugin uses SASL_SSL)."""
    topics = Topics(*(unique_topic_name(f"auth-{label}-{k}") for k in ("in", "out", "dlq", "g")))
    create_topics(kafka.plaintext, [topics.input, topics.output, topics.dlq])
    produce_all(kafka.plaintext, topics.input, payloads)
    return topics


def plugin_command(
    kafka: AuthKafka, topics: Topics, mode: str, password: str, metrics_port: int | None,
    ca: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """`broker-plugin run` over SASL_SSL, the password given the `mode` way (`ca`: another
    CA to trust than the broker's)."""
    command = [
        sys.executable, "-m", "broker_plugin", "run",
        "--bootstrap-servers", kafka.sasl_ssl, "--input-topic", topics.input,
        "--output-topic", topics.output, "--dlq-topic", topics.dlq,
        "--group-id", topics.group, "--survey", "compact", "--output-format", "json",
        "--log-level", "DEBUG", "--batch-wait-ms", "50",
    ]  # fmt: skip
    command += ["--metrics-port", str(metrics_port)] if metrics_port else ["--no-metrics"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_PLUGIN_")}
    settings = kafka.client_settings(password)
    del settings["sasl.password"]
    if ca is not None:
        settings["ssl.ca.location"] = str(ca)
    settings["debug"] = "security,conf"  # librdkafka's own lines about logging in, too
    pairs = [f"{k}={v}" for k, v in settings.items()]
    if mode == "cli-X":
        command += [arg for pair in [*pairs, f"sasl.password={password}"] for arg in ("-X", pair)]
    elif mode == "env-sasl-password":
        command += [arg for pair in pairs for arg in ("-X", pair)]
        env["BROKER_PLUGIN_SASL_PASSWORD"] = password
    elif mode == "env-kafka-settings":
        env["BROKER_PLUGIN_KAFKA_SETTINGS"] = " ".join([*pairs, f"sasl.password={password}"])
    else:
        raise ValueError(mode)
    return command, env


def hits(secret: str, *texts: str | bytes | None) -> int:
    """How many times `secret` occurs in the texts (bytes searched as bytes)."""
    found = 0
    for text in texts:
        if isinstance(text, bytes):
            found += text.count(secret.encode())
        elif text:
            found += text.count(secret)
    return found


def record_texts(reader: TopicReader) -> list[bytes | None]:
    """Every value, key, header name and header value of the records read."""
    out: list[bytes | None] = []
    for message in reader.messages:
        out += [message.value(), message.key()]
        for name, value in message.headers() or []:
            out += [name.encode(), value]
    return out


def test_hits_counts_the_secret() -> None:
    """The grep below can fail: it finds the password wherever it is."""
    assert hits("Pwabc", "x Pwabc y", b"Pwabc", None, "Pwabc Pwabc") == 4
    assert hits("Pwabc", "Pw***", b"", None) == 0


@pytest.mark.parametrize("mode", MODES)
def test_right_secret_classifies_and_never_shows_the_password(
    auth_kafka: AuthKafka, alerts: list[bytes], mode: str, tmp_path: Path
) -> None:
    topics = make_topics(auth_kafka, mode, [*alerts, *POISON])
    port = free_port()
    command, env = plugin_command(auth_kafka, topics, mode, auth_kafka.password, port)
    log = tmp_path / "plugin.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    scraped: list[str] = []
    try:
        with TopicReader(auth_kafka.plaintext, topics.output) as output, \
                TopicReader(auth_kafka.plaintext, topics.dlq) as dlq:  # fmt: skip
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None and (
                len(output.messages) < len(alerts) or len(dlq.messages) < len(POISON)
            ):
                output.poll(0.2)
                dlq.poll(0.05)
            scraped = [http_get(port, p)[1] for p in ("/metrics", "/healthz", "/readyz")]
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, log.read_text()[-3000:]
            output.poll(0.5)
            records = record_texts(output) + record_texts(dlq)
            classified = {json.loads(m.value())["alert_id"] for m in output.messages}
            dead_letters = len(dlq.messages)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text(errors="replace")
    assert len(classified) == len(alerts), text[-3000:]
    assert dead_letters == len(POISON)
    assert "SASL authentication" in text or "SCRAM" in text  # librdkafka's debug lines are in
    assert '"sasl.password": "***"' in text  # the startup config was logged, masked
    assert "alerts_classified_total" in scraped[0]
    assert hits(auth_kafka.password, text) == 0, "password in the log"
    assert hits(auth_kafka.password, *scraped) == 0, "password in /metrics or the probes"
    assert hits(auth_kafka.password, *records) == 0, "password in a record"


#: Refused starts: (how the password is given, what is wrong).
REFUSED = {
    "wrong password in -X": ("cli-X", "password"),
    "wrong password in BROKER_PLUGIN_SASL_PASSWORD": ("env-sasl-password", "password"),
    "broker certificate not signed by the CA given": ("env-sasl-password", "ca"),
}


def other_ca(directory: Path) -> Path:
    """A CA of its own, which did not sign the broker's certificate."""
    pem = directory / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(directory / "other-ca-key.pem"), "-out", str(pem),
         "-subj", "/CN=not the broker's CA"],
        check=True, capture_output=True,
    )  # fmt: skip
    return pem


def test_refused_login_or_tls_stops_in_one_line(
    auth_kafka: AuthKafka, alerts: list[bytes], tmp_path: Path
) -> None:
    """Each refused start exits 2 with one `error:` line and no traceback. The three run at
    once: a refused start takes ~13 s, mostly the first metadata request's wait."""
    wrong = f"{auth_kafka.password}x"  # contains the right one: neither may appear
    running = {}
    for i, (case, (mode, what)) in enumerate(REFUSED.items()):
        topics = make_topics(auth_kafka, f"refused-{i}", alerts[:2])
        command, env = plugin_command(
            auth_kafka, topics, mode, wrong if what == "password" else auth_kafka.password,
            None, ca=other_ca(tmp_path) if what == "ca" else None,
        )  # fmt: skip
        running[case] = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    for case, process in running.items():
        stdout, stderr = process.communicate(timeout=120)
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert process.returncode == 2, f"{case}: {stderr[-3000:]}"
        assert len(errors) == 1, f"{case}: {stderr[-3000:]}"
        if REFUSED[case][1] == "password":
            assert "error: kafka refused the login (_AUTHENTICATION" in errors[0], errors[0]
            assert "check sasl.username, the password" in errors[0]
        else:
            assert "error: TLS with kafka failed (_SSL" in errors[0], errors[0]
            assert "certificate verify failed" in errors[0]
        assert "Traceback" not in stderr, case
        assert hits(auth_kafka.password, stdout, stderr) == 0, case
        fatal = [line for line in stderr.splitlines() if "kafka client error" in line]
        assert len(fatal) <= 1, f"{case}: the refusal is logged once, not at every retry"


def test_password_is_in_no_file_of_the_broker(auth_kafka: AuthKafka) -> None:
    """The SCRAM credential went in salted: neither the state directory (server.properties,
    auth.json, TLS files, the broker's logs) nor the broker's command line holds it."""
    from devtools.kafka_support import run_local_kafka

    files = [p for p in auth_kafka.state_dir.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert any(p.name == "server.properties" for p in files)
    leaking = [str(p) for p in files if auth_kafka.password.encode() in p.read_bytes()]
    assert leaking == []
    pid = (auth_kafka.state_dir / "kafka.pid").read_text().strip()
    assert auth_kafka.password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    status = run_local_kafka("status", "--state-dir", str(auth_kafka.state_dir))
    assert f"SASL_SSL (SCRAM-SHA-512, user {auth_kafka.user}) at {auth_kafka.sasl_ssl}" in (
        status.stdout
    ), status.stdout


def test_sasl_ssl_needs_a_password_and_a_new_state_dir(tmp_path: Path) -> None:
    """Both refusals are one line before any JVM starts."""
    from devtools.kafka_support import LOCAL_KAFKA

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCAL_KAFKA_")}
    env["PYTHON"] = sys.executable
    fresh = subprocess.run(
        [str(LOCAL_KAFKA), "start", "--sasl-ssl", "--state-dir", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert fresh.returncode == 1
    assert fresh.stderr.strip().splitlines()[-1] == (
        "error: local-kafka: --sasl-ssl needs the user's password in "
        "LOCAL_KAFKA_SCRAM_PASSWORD (read once, when the broker's storage is formatted)"
    )
    assert not (tmp_path / "a" / "tls").exists()  # refused before making anything
    formatted = tmp_path / "b"
    (formatted / "data").mkdir(parents=True)
    (formatted / "data" / "meta.properties").write_text("formatted before\n")
    (formatted / ".local-kafka").write_text("4.3.1\n")
    old = subprocess.run(
        [str(LOCAL_KAFKA), "start", "--sasl-ssl", "--state-dir", str(formatted)],
        capture_output=True, text=True, timeout=120,
        env={**env, "LOCAL_KAFKA_SCRAM_PASSWORD": "x"},
    )  # fmt: skip
    assert old.returncode == 1
    assert "was formatted without SASL_SSL; use a new state directory" in old.stderr
