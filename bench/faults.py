"""Reliability battery: the plugin under kills, poison and a registry outage, counted by alert id.

Each scenario runs `broker-plugin run` as a separate process (the shipped model, LSST 11.1
alerts in the wire format) against a real Kafka broker and counts, by alert id, what came
out: `produced` good alerts, `outputs` records, `distinct` alert ids among them, `lost`
(good alerts with no record), `duplicates` (records beyond one per alert), `dead_lettered`,
the plugin's `exit_codes` and `seconds`. Scenarios:

* `sigkill` — SIGKILL at random moments while the plugin works through the alerts (3
  partitions, all produced up front so it is busy: each life is killed within half a second
  of its first record), restarting each time with the same group (at-least-once: 0 lost,
  duplicates reported);
* `sigkill-eos` — the same with `--exactly-once`, read with read_committed: 0 lost and 0
  duplicates;
* `sigkill-rebalance` — two members of one group (dynamic membership), one of them killed
  in turn while both work and restarted: the partitions move between them under load;
* `sigterm` — SIGTERM during a full batch: exit 0, and after a restart 0 lost, 0 duplicates;
* `poison` — bad messages of every kind interleaved with good alerts: every good alert
  classified, every bad one dead-lettered with its original bytes and a reason, no record
  for a dead-lettered alert, the plugin alive throughout, its RSS sampled;
* `registry` — a real schema registry (Apicurio Registry from Maven Central, its
  Confluent-compatible API) is stopped for `--outage` seconds mid-stream while alerts of a
  schema not fetched yet arrive, then started again on its storage: 0 dead letters, 0 lost,
  /readyz 503 during the outage;
* `broker-restart` / `broker-pause` — the broker is stopped for `--outage` seconds and
  started again on the same data, or frozen with SIGSTOP (at most 30 s) and resumed:
  0 lost, the plugin still running, /readyz 503 during the outage (private broker only;
  the outage is stretched until /readyz says 503, up to the plugin's detection bound of
  12 s, and `unready_after_s` says when it did).
* `auth` — a broker of its own with SASL/SCRAM-SHA-512 over TLS (a CA made with openssl):
  the right password classifies every alert, a wrong one exits 2 with one line, and the
  password is in no log line, /metrics answer or record (`password_hits` 0).

    python bench/faults.py [--short] [--scenarios sigkill,sigkill-eos,sigterm,poison,registry]
        [--alerts 20000] [--kills 20] [--rate 250] [--poison 10000] [--outage 60]
        [--bootstrap HOST:PORT] [--json FILE]

Without --bootstrap it starts a private broker (scripts/local-kafka) and stops it after.
`--short` is the version `scripts/test` runs (tests/test_faults.py): a few kills and a few
hundred poison messages. Fuzzing (bench/fuzz.py) and the soak (bench/soak.py) run on their
own: they need other processes and durations than a battery of scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.kafka_support import (  # noqa: E402
    TopicReader,
    create_topics,
    start_local_kafka,
    stop_local_kafka,
    unique_topic_name,
)
from devtools.loopback import free_port, http_get  # noqa: E402

SCHEMA_ID = 1101
#: The bench's own clients keep quiet while the broker is down on purpose (critical only).
QUIET = {"log_level": 2}
#: Librdkafka settings so a restarted member is back quickly (static membership does the rest).
QUICK_GROUP = ("-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000")


@dataclass
class Outcome:
    """One scenario's counts (the JSON entry)."""

    scenario: str
    produced: int = 0
    outputs: int = 0
    distinct: int = 0
    lost: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    exit_codes: list[int | None] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(_meets(getattr(self, k, self.extra.get(k)), v)
                   for k, v in self.expected.items())


def _meets(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, str) and wanted.startswith("<="):
        return value is not None and value <= float(wanted[2:])
    return bool(value == wanted)


# -- alerts ----------------------------------------------------------------------------------


def schema_dir() -> Path:
    import lsst.alert.packet as packet  # test extra: the LSST schemas are not shipped

    return Path(packet.__file__).parent / "schema"


def good_alerts(n: int, seed: int = 0, version: str = "11.1") -> tuple[list[bytes], list[str]]:
    """n LSST alerts (10 per object, 40-point histories) and their alert ids."""
    from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource
    from broker_plugin.serving.produce import iter_alerts
    from devtools.serving_data import periodic_curves

    per_object = 10
    curves = periodic_curves(-(-n // per_object), points=40 + per_object, seed=seed)
    payloads = [p for _, p in iter_alerts(curves, "lsst", version, per_object, schema_dir())][:n]
    decoded = AlertDecoder(DirectorySchemaSource(schema_dir())).decode_batch(payloads)
    ids = [str(i) for i in decoded.alert_id]
    if len(ids) != len(payloads) or len(set(ids)) != len(ids):
        raise RuntimeError("generated alerts do not decode to distinct ids")
    return payloads, ids


def poison_kinds(good: bytes, seed: int) -> dict[str, Callable[[int], bytes | None]]:
    """Bad message makers by kind (argument: a counter, so each message differs)."""
    import fastavro

    from broker_plugin.alerts import ZtfAlertEncoder, container, serialise
    from broker_plugin.alerts.lsst_encoder import LsstAlertEncoder
    from broker_plugin.avro.framing import frame_confluent
    from broker_plugin.decoding import DirectorySchemaSource
    from broker_plugin.serving.produce import project_schema
    from devtools.serving_data import periodic_curves

    rng = random.Random(seed)
    body = good[5:]
    curves = periodic_curves(1, points=30, seed=seed)
    lsst_schema = DirectorySchemaSource(schema_dir()).get(SCHEMA_ID)
    encoder = LsstAlertEncoder(lsst_schema)
    ztf_schema = project_schema("ztf_alert")
    ztf = container(ztf_schema, [ZtfAlertEncoder(ztf_schema).encode(curves)])
    old = json.loads((schema_dir() / "7" / "0" / "sample_data" / "alert.json").read_text())
    old_schema = DirectorySchemaSource(schema_dir()).get(700)

    def bad_fluxes(value: float) -> Callable[[int], bytes]:
        def make(i: int) -> bytes:
            alert = encoder.encode(curves)
            alert["diaSource"]["diaSourceId"] += i  # distinct payloads
            for source in [alert["diaSource"], *(alert.get("prvDiaSources") or [])]:
                source["scienceFlux"] = value
            for forced in alert.get("prvDiaForcedSources") or []:
                forced["scienceFlux"] = value
            return serialise(lsst_schema, alert, SCHEMA_ID)
        return make

    def lsst7(i: int) -> bytes:
        buffer = __import__("io").BytesIO()
        fastavro.schemaless_writer(buffer, old_schema, old)
        return frame_confluent(700, buffer.getvalue() + b"\x00" * (i % 3))

    return {
        "random_bytes": lambda i: bytes([rng.randrange(1, 256)]) + rng.randbytes(
            rng.randrange(0, 400)),
        "wrong_magic": lambda i: bytes([1 + i % 200]) + body,
        "unknown_schema_id": lambda i: frame_confluent(90_000 + i % 1000, body),
        "truncated_body": lambda i: good[: 6 + rng.randrange(len(good) // 2)],
        "empty_value": lambda i: b"",
        "null_value": lambda i: None,
        "nan_fluxes": bad_fluxes(float("nan")),
        "inf_fluxes": bad_fluxes(float("inf")),
        "negative_fluxes": bad_fluxes(-5.0),
        "ztf_on_lsst_topic": lambda i: ztf,
        "lsst_7x": lsst7,
    }


def long_history_alert() -> tuple[bytes, str]:
    """A valid alert with a 20,000-point history (it must be classified, not choke us)."""
    from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource
    from broker_plugin.serving.produce import make_encoder
    from devtools.serving_data import periodic_curves

    curves = periodic_curves(1, points=20_000, seed=77)
    payload = make_encoder("lsst", "11.1", schema_dir())(curves, None)
    decoded = AlertDecoder(DirectorySchemaSource(schema_dir())).decode_batch([payload])
    return payload, str(decoded.alert_id[0])


# -- the plugin process ----------------------------------------------------------------------


class Plugin:
    """`broker-plugin run` as a child process, restartable with the same arguments."""

    def __init__(self, bootstrap: str, topics: dict[str, str], *extra: str,
                 log: Path, instance: int | None = 0) -> None:
        """`instance`: its static membership id within the group (None: dynamic member,
        so that a killed one's partitions move to the others: a rebalance)."""
        static = [] if instance is None else [
            "--group-instance-id", f"{topics['group']}-{instance}"]
        self.command = [
            sys.executable, "-m", "broker_plugin", "run", "--bootstrap-servers", bootstrap,
            "--input-topic", topics["in"], "--output-topic", topics["out"],
            "--dlq-topic", topics["dlq"], "--group-id", topics["group"], *static,
            "--output-format", "json", *QUICK_GROUP, *extra]
        if "--metrics-port" not in extra:
            self.command.append("--no-metrics")
        if "--schema-registry-url" not in extra:
            self.command += ["--schema-dir", str(schema_dir())]
        self.log = log
        self.env: dict[str, str] | None = None  # None: this process's environment
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int | None] = []
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT,
                                            env=self.env)
        self.starts += 1

    def wait_running(self, timeout_s: float = 60.0) -> bool:
        """Until this start has subscribed (its "consuming" log line): a SIGTERM before
        that meets Python's default handler, not ours."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            if self.log.read_text(errors="replace").count(" consuming [") >= self.starts:
                return True
            time.sleep(0.05)
        return False

    def signal(self, signum: int, timeout_s: float = 60.0) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = None  # hung: recorded as None
        self.exit_codes.append(code)
        self.process = None
        return code

    def reap(self) -> None:
        """Record the exit of a plugin that stopped on its own (its log says why)."""
        if self.process is not None and self.process.poll() is not None:
            self.exit_codes.append(self.process.returncode)
            self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_mb(self) -> float | None:
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


#: Topics and producers take messages up to this size (the 20,000-point alert is ~6 MB;
#: Kafka's default limit is 1 MB).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def make_topics(bootstrap: str, label: str, partitions: int = 3) -> dict[str, str]:
    topics = {k: unique_topic_name(f"faults-{label}-{k}") for k in ("in", "out", "dlq")}
    create_topics(bootstrap, topics.values(), partitions=partitions,
                  config={"max.message.bytes": str(MAX_MESSAGE_BYTES)})
    topics["group"] = unique_topic_name(f"faults-{label}")
    return topics


class Stream(threading.Thread):
    """Produces payloads at a steady rate in the background; join() re-raises its error."""

    def __init__(self, run: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._run = run
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise RuntimeError(f"producing the input stream failed: {self.error}")


def stream(bootstrap: str, topic: str, payloads: Sequence[bytes | None], rate: float,
           keys: Sequence[bytes | None] | None = None) -> Stream:
    """Produce `payloads` at `rate` per second (0: at once) from a background thread."""
    from confluent_kafka import Producer

    def run() -> None:
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                             "enable.idempotence": True, **QUIET,
                             "message.max.bytes": MAX_MESSAGE_BYTES})
        n_partitions = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
        started = time.monotonic()
        for i, value in enumerate(payloads):
            if rate > 0:
                lag = started + i / rate - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
            key = keys[i] if keys is not None else None
            while True:
                try:
                    if key is None:
                        producer.produce(topic, value=value, partition=i % n_partitions)
                    else:
                        producer.produce(topic, value=value, key=key)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        if producer.flush(60):
            raise RuntimeError(f"producer to {topic} could not deliver everything")

    thread = Stream(run)
    thread.start()
    return thread


def read_ids(reader: TopicReader) -> list[str]:
    return [json.loads(m.value())["alert_id"] for m in reader.messages]


def wait_for(condition: Callable[[], bool], timeout_s: float, step: Callable[[], None],
             plugin: Plugin, producer: Stream | None = None) -> bool:
    """Until `condition`, the timeout, the plugin's unexpected exit or a producer error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        step()
        if condition():
            return True
        if not plugin.alive():
            plugin.reap()
            return False
        if producer is not None and producer.error is not None:
            producer.join()  # raises
    return False


def count(outcome: Outcome, ids: Sequence[str], out: TopicReader, dlq: TopicReader) -> None:
    seen = read_ids(out)
    outcome.produced = len(ids)
    outcome.outputs = len(seen)
    outcome.distinct = len(set(seen))
    outcome.lost = len(set(ids) - set(seen))
    outcome.duplicates = outcome.outputs - outcome.distinct
    outcome.dead_lettered = len(dlq.messages)


def kill_while_working(victim: Plugin, watcher: Plugin, out: TopicReader,
                       rng: random.Random, producer: Stream) -> bool:
    """SIGKILL `victim` at a random moment within half a second of the next new record (it
    is working: mid-batch, between produce and commit, or idle) and start it again; False
    when no new record came (nothing left to process, or `watcher` stopped on its own)."""
    before = len(out.messages)
    if not wait_for(lambda: len(out.messages) > before, 120, lambda: out.poll(0.05),
                    watcher, producer):
        return False
    time.sleep(rng.uniform(0.0, 0.5))
    victim.signal(signal.SIGKILL)
    victim.start()
    return True


def drain_and_stop(plugins: Sequence[Plugin], ids: Sequence[str], out: TopicReader,
                   dlq: TopicReader, outcome: Outcome) -> None:
    """Wait until every good alert has a record (at most 300 s), stop the plugins as
    Kubernetes would (SIGTERM once running), let late records arrive, and count."""
    wait_for(lambda: set(read_ids(out)) >= set(ids), 300, lambda: out.poll(0.5), plugins[0])
    for plugin in plugins:
        plugin.wait_running()
        plugin.signal(signal.SIGTERM)
    out.poll(2.0)
    dlq.poll(2.0)
    count(outcome, ids, out, dlq)


# -- scenarios -------------------------------------------------------------------------------


def sigkill(bootstrap: str, work: Path, n: int, kills: int, rate: float,
            exactly_once: bool = False, seed: int = 0) -> Outcome:
    """Kill -9 at random moments over a stream at `rate`, restart with the same group."""
    name = "sigkill-eos" if exactly_once else "sigkill"
    outcome = Outcome(name, expected={"lost": 0, "dead_lettered": 0, "exit_codes_ok": True,
                                      "kills": kills,
                                      **({"duplicates": 0} if exactly_once else {})})
    payloads, ids = good_alerts(n, seed)
    topics = make_topics(bootstrap, name)
    extra = ("--exactly-once", "--transactional-id", topics["group"]) if exactly_once else ()
    plugin = Plugin(bootstrap, topics, *extra, log=work / f"{name}.log")
    rng = random.Random(seed)
    started = time.monotonic()
    producer = stream(bootstrap, topics["in"], payloads, rate)
    done = 0
    with TopicReader(bootstrap, topics["out"]) as out, TopicReader(bootstrap,
                                                                   topics["dlq"]) as dlq:
        plugin.start()
        while done < kills and kill_while_working(plugin, plugin, out, rng, producer):
            done += 1
        producer.join()
        drain_and_stop([plugin], ids, out, dlq, outcome)
    outcome.exit_codes = plugin.exit_codes
    outcome.extra["exit_codes_ok"] = (plugin.exit_codes[:-1] == [-signal.SIGKILL] * done
                                      and plugin.exit_codes[-1] == 0)
    outcome.extra["kills"] = done
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def sigkill_pair(bootstrap: str, work: Path, n: int, kills: int, seed: int = 5) -> Outcome:
    """Two dynamic members of one group share 3 partitions; one of them (in turn) is killed
    while both work and restarted: its partitions move to the other after the session
    timeout and back on rejoin, rebalances under load. 0 lost, duplicates reported."""
    outcome = Outcome("sigkill-rebalance", expected={"lost": 0, "dead_lettered": 0,
                                                     "exit_codes_ok": True, "kills": kills})
    payloads, ids = good_alerts(n, seed)
    topics = make_topics(bootstrap, "rebalance")
    pair = [Plugin(bootstrap, topics, log=work / f"rebalance-{i}.log", instance=None)
            for i in range(2)]
    rng = random.Random(seed)
    started = time.monotonic()
    producer = stream(bootstrap, topics["in"], payloads, 0)
    done = 0
    with TopicReader(bootstrap, topics["out"]) as out, TopicReader(bootstrap,
                                                                   topics["dlq"]) as dlq:
        for plugin in pair:
            plugin.start()
        while done < kills and kill_while_working(pair[done % 2], pair[(done + 1) % 2], out,
                                                  rng, producer):
            done += 1
        producer.join()
        drain_and_stop(pair, ids, out, dlq, outcome)
    codes = [plugin.exit_codes for plugin in pair]
    outcome.exit_codes = [c for member in codes for c in member]
    outcome.extra["exit_codes_ok"] = all(
        member[-1:] == [0] and all(c == -signal.SIGKILL for c in member[:-1])
        for member in codes)
    outcome.extra["kills"] = done
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def sigterm(bootstrap: str, work: Path, n: int, seed: int = 1) -> Outcome:
    """SIGTERM while a full batch is in hand: exit 0; after a restart nothing lost or doubled."""
    outcome = Outcome("sigterm", expected={"lost": 0, "duplicates": 0, "exit_codes_ok": True})
    payloads, ids = good_alerts(n, seed)
    topics = make_topics(bootstrap, "sigterm")
    plugin = Plugin(bootstrap, topics, "--batch-size", "500", "--batch-wait-ms", "2000",
                    log=work / "sigterm.log")
    started = time.monotonic()
    stream(bootstrap, topics["in"], payloads, 0).join()
    with TopicReader(bootstrap, topics["out"]) as out, TopicReader(bootstrap,
                                                                   topics["dlq"]) as dlq:
        plugin.start()
        wait_for(lambda: len(out.messages) > 0, 120, lambda: out.poll(0.05), plugin)
        plugin.wait_running()
        plugin.signal(signal.SIGTERM)
        plugin.start()
        drain_and_stop([plugin], ids, out, dlq, outcome)
    outcome.exit_codes = plugin.exit_codes
    outcome.extra["exit_codes_ok"] = plugin.exit_codes == [0, 0]
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def poison(bootstrap: str, work: Path, n_bad: int, seed: int = 2) -> Outcome:
    """Every kind of bad message between good alerts (plus a null key and a 20,000-point
    history, which are good): good ones classified, bad ones dead-lettered as they came."""
    outcome = Outcome("poison", expected={"lost": 0, "duplicates": 0, "alive": True,
                                          "dead_letters_match": True,
                                          "records_for_bad": 0})
    payloads, ids = good_alerts(n_bad, seed)
    long_payload, long_id = long_history_alert()
    kinds = poison_kinds(payloads[0], seed)
    names = list(kinds)
    bad = [kinds[names[i % len(names)]](i) for i in range(n_bad - 1)]
    bad.append(b"\x07" + random.Random(seed).randbytes(3 * 1024 * 1024))  # over 1 MB
    names.append("oversized_garbage")
    values: list[bytes | None] = []
    keys: list[bytes | None] = []
    for i, (good, poisoned) in enumerate(zip(payloads, bad, strict=True)):
        values += [good, poisoned]
        keys += [None if i % 50 == 0 else f"k{i}".encode(), f"p{i}".encode()]
    values.append(long_payload)
    keys.append(b"long")
    ids = [*ids, long_id]
    topics = make_topics(bootstrap, "poison")
    plugin = Plugin(bootstrap, topics, "--batch-size", "500", log=work / "poison.log")
    started = time.monotonic()
    stream(bootstrap, topics["in"], values, 0, keys).join()  # all in before the plugin starts
    rss: list[float] = []
    alive = True
    with TopicReader(bootstrap, topics["out"]) as out, TopicReader(bootstrap,
                                                                   topics["dlq"]) as dlq:
        plugin.start()

        def step() -> None:
            nonlocal alive
            out.poll(0.3)
            dlq.poll(0.2)
            alive = alive and plugin.alive()
            if (mb := plugin.rss_mb()) is not None:
                rss.append(mb)

        wait_for(lambda: len(out.messages) >= len(ids) and len(dlq.messages) >= n_bad, 600,
                 step, plugin)
        plugin.wait_running()
        plugin.signal(signal.SIGTERM)
        out.poll(1.0)
        dlq.poll(1.0)
        count(outcome, ids, out, dlq)
        from broker_plugin.serving.consumer import DEFAULT_MESSAGE_MAX_BYTES, DLQ_HEADROOM_BYTES
        from broker_plugin.serving.dlq import read_dead_letter_headers

        # A dead letter too large for the DLQ topic comes back without its value, its size
        # in dlq.value_dropped (broker_plugin/serving/dlq.py).
        limit = DEFAULT_MESSAGE_MAX_BYTES - DLQ_HEADROOM_BYTES
        originals = Counter(b"<null>" if v is None else v if len(v) <= limit
                            else f"<dropped {len(v)}>".encode() for v in bad)
        returned = Counter(
            m.value() if m.value() is not None else
            f"<dropped {h['value_dropped']}>".encode() if "value_dropped" in h else b"<null>"
            for m in dlq.messages for h in [read_dead_letter_headers(m.headers())])
        reasons = Counter(read_dead_letter_headers(m.headers())["reason"] for m in dlq.messages)
        record_ids = set(read_ids(out))
    outcome.exit_codes = plugin.exit_codes
    outcome.extra.update(
        alive=alive, dead_letters_match=originals == returned,
        records_for_bad=len(record_ids - set(ids)), reasons=dict(reasons),
        kinds=names, rss_mb_first=round(rss[0], 1) if rss else None,
        rss_mb_max=round(max(rss), 1) if rss else None,
        rss_mb_last=round(rss[-1], 1) if rss else None)
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def canonical_schema(schema_id: int) -> str:
    """An LSST schema as one self-contained text (every named type inlined, as a registry
    holds it)."""
    import fastavro

    from broker_plugin.decoding import DirectorySchemaSource

    return str(fastavro.schema.to_parsing_canonical_form(
        DirectorySchemaSource(schema_dir()).get(schema_id)))


def reframed(payloads: Sequence[bytes], schema_id: int) -> list[bytes]:
    """The same Avro bodies under another Confluent schema id (the registry's)."""
    from broker_plugin.avro.framing import frame_confluent

    return [frame_confluent(schema_id, payload[5:]) for payload in payloads]


def registry(bootstrap: str, work: Path, n: int, outage_s: float, rate: float,
             seed: int = 3) -> Outcome:
    """A real registry (Apicurio) stops mid-stream for `outage_s` while alerts of a schema
    the plugin has not fetched yet arrive (the stream moves from LSST 11.1 to 10.0, each
    registered in the registry): they wait, nothing is dead-lettered or lost, /readyz says
    503, and the stream resumes when the registry is back on the same storage."""
    from devtools.apicurio import ApicurioRegistry

    outcome = Outcome("registry", expected={"lost": 0, "dead_lettered": 0,
                                            "exit_codes_ok": True, "unready_seen": True,
                                            "new_schema_records_during_outage": 0})
    first, first_ids = good_alerts(n // 2, seed)
    second, second_ids = good_alerts(n - n // 2, seed + 100, version="10.0")
    ids = first_ids + second_ids
    if len(set(ids)) != len(ids):
        raise RuntimeError("the two halves' alert ids overlap")
    topics = make_topics(bootstrap, "registry")
    port = free_port()
    started = time.monotonic()
    statuses: list[int | None] = []
    with ApicurioRegistry(work / "apicurio") as apicurio, \
            TopicReader(bootstrap, topics["out"], **QUIET) as out, \
            TopicReader(bootstrap, topics["dlq"], **QUIET) as dlq:
        subject = f"{topics['in']}-value"
        id_11 = apicurio.register(subject, canonical_schema(SCHEMA_ID))
        id_10 = apicurio.register(subject, canonical_schema(1000))
        plugin = Plugin(bootstrap, topics, "--schema-registry-url", apicurio.url,
                        "--metrics-port", str(port), log=work / "registry.log")
        plugin.start()
        stream(bootstrap, topics["in"], reframed(first, id_11), rate).join()
        wait_for(lambda: len(set(read_ids(out)) & set(first_ids)) == len(first_ids), 120,
                 lambda: out.poll(0.2), plugin)
        apicurio.stop()
        producer = stream(bootstrap, topics["in"], reframed(second, id_10), rate)
        until = time.monotonic() + outage_s
        while time.monotonic() < until:
            statuses.append(readiness(port))
            out.poll(0.2)
            time.sleep(0.3)
        dlq.poll(0.1)
        outcome.extra["new_schema_records_during_outage"] = len(
            set(read_ids(out)) & set(second_ids))
        outcome.extra["dead_letters_during_outage"] = len(dlq.messages)
        apicurio.start()
        producer.join()
        wait_for(lambda: set(read_ids(out)) >= set(ids), 120, lambda: out.poll(0.5), plugin)
        statuses.append(readiness(port))
        drain_and_stop([plugin], ids, out, dlq, outcome)
    outcome.exit_codes = plugin.exit_codes
    outcome.extra.update(exit_codes_ok=plugin.exit_codes == [0], outage_s=outage_s,
                         registry="Apicurio Registry (Confluent API /apis/ccompat/v7)",
                         schema_ids={"11.1": id_11, "10.0": id_10},
                         unready_seen=503 in statuses,
                         readyz=dict(Counter(str(code) for code in statuses)),
                         ready_after=statuses[-1] == 200)
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def last_line(log: Path) -> str:
    """The plugin's last log line (its one-line reason when it stopped)."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if line.strip() and not line.startswith("%")]
    return lines[-1][:300] if lines else ""


def readiness(port: int) -> int | None:
    """/readyz's HTTP status, None when nothing answers."""
    return http_get(port, "/readyz")[0] or None


def broker_outage(bootstrap: str, work: Path, kafka_state: Path, n: int, rate: float,
                  down_s: float, pause: bool, seed: int = 4) -> Outcome:
    """Stop the broker mid-stream and start it again on the same data (or freeze it with
    SIGSTOP, then SIGCONT): nothing lost, the plugin still running (or exited with a line),
    /readyz 503 while it cannot reach the broker."""
    name = "broker-pause" if pause else "broker-restart"
    outcome = Outcome(name, expected={"lost": 0, "dead_lettered": 0, "exit_codes_ok": True,
                                      "unready_seen": True})
    payloads, ids = good_alerts(n, seed)
    topics = make_topics(bootstrap, name)
    port = free_port()
    plugin = Plugin(bootstrap, topics, "--metrics-port", str(port), log=work / f"{name}.log")
    started = time.monotonic()
    statuses: list[int | None] = []
    with TopicReader(bootstrap, topics["out"], **QUIET) as out, \
            TopicReader(bootstrap, topics["dlq"], **QUIET) as dlq:
        producer = stream(bootstrap, topics["in"], payloads, rate)
        plugin.start()
        wait_for(lambda: len(out.messages) > 0, 120, lambda: out.poll(0.1), plugin)
        if pause:
            broker = int((kafka_state / "kafka.pid").read_text().strip())
            os.kill(broker, signal.SIGSTOP)
        else:
            stop_local_kafka(kafka_state)
        # The outage lasts down_s, and longer until /readyz has said 503, up to the plugin's
        # detection bound: a frozen broker raises no error, so an idle plugin sees it only
        # through its idle probe (its interval plus its timeout after the last message; the
        # flush stall is shorter), plus slack for a loaded machine.
        from broker_plugin.serving.consumer import IDLE_PROBE_INTERVAL_S, IDLE_PROBE_TIMEOUT_S

        down = time.monotonic()
        detected_within = IDLE_PROBE_INTERVAL_S + IDLE_PROBE_TIMEOUT_S + 4.0
        until, latest = down + down_s, down + max(down_s, detected_within)
        unready_after = None
        while (now := time.monotonic()) < until or (unready_after is None and now < latest):
            statuses.append(readiness(port))
            if statuses[-1] == 503 and unready_after is None:
                unready_after = round(now - down, 1)
            time.sleep(0.5)
        outcome.extra["unready_after_s"] = unready_after
        down_s = round(time.monotonic() - down, 1)
        if pause:
            os.kill(broker, signal.SIGCONT)
        else:
            start_local_kafka(kafka_state, os.getpid())
        outcome.extra["alive_after_outage"] = plugin.alive()
        producer.join()
        stops = []
        # A supervisor's part: a plugin that stopped (non-zero, one line) is started again.
        while not wait_for(lambda: set(read_ids(out)) >= set(ids), 300, lambda: out.poll(0.5),
                           plugin) and not plugin.alive() and len(stops) < 3:
            stops.append(last_line(plugin.log))
            plugin.start()
        outcome.extra["stops"] = stops
        statuses.append(readiness(port))
        drain_and_stop([plugin], ids, out, dlq, outcome)
    outcome.exit_codes = plugin.exit_codes
    outcome.extra.update(exit_codes_ok=plugin.exit_codes[-1:] == [0] and all(
                             code != 0 for code in plugin.exit_codes[:-1]) and not any(
                             "Traceback" in line for line in stops), down_s=down_s,
                         unready_seen=503 in statuses,
                         readyz=dict(Counter(str(code) for code in statuses)),
                         ready_after=statuses[-1] == 200)
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def http_text(port: int, path: str) -> str:
    """The body of GET http://127.0.0.1:port/path (an error status's body too; '' if none)."""
    status, body = http_get(port, path)
    return body if status else ""


def auth(work: Path, n: int, seed: int = 6) -> Outcome:
    """SASL/SCRAM-SHA-512 over TLS, on a broker of its own (scripts/local-kafka --sasl-ssl):
    with the right password (-X) every alert is classified; with a wrong one
    (BROKER_PLUGIN_SASL_PASSWORD) the plugin exits 2 with one line; the password is in no
    log line (DEBUG, librdkafka's security debug too), /metrics answer or record."""
    from devtools.kafka_auth import start_auth_kafka, stop_auth_kafka

    outcome = Outcome("auth", expected={"lost": 0, "duplicates": 0, "dead_lettered": 0,
                                        "exit_codes_ok": True, "password_hits": 0,
                                        "refused_error_lines": 1})
    payloads, ids = good_alerts(n, seed)
    started = time.monotonic()
    kafka = start_auth_kafka(work / "auth-kafka", owner_pid=os.getpid())
    try:
        topics = make_topics(kafka.plaintext, "auth")
        stream(kafka.plaintext, topics["in"], payloads, 0).join()
        settings = kafka.client_settings()
        password = settings.pop("sasl.password")
        settings["debug"] = "security"
        xs = [arg for key, value in settings.items() for arg in ("-X", f"{key}={value}")]
        port = free_port()
        plugin = Plugin(kafka.sasl_ssl, topics, *xs, "-X", f"sasl.password={password}",
                        "--metrics-port", str(port), "--log-level", "DEBUG",
                        log=work / "auth.log")
        with TopicReader(kafka.plaintext, topics["out"]) as out, \
                TopicReader(kafka.plaintext, topics["dlq"]) as dlq:
            plugin.start()
            wait_for(lambda: set(read_ids(out)) >= set(ids), 300, lambda: out.poll(0.5), plugin)
            scraped = [http_text(port, path) for path in ("/metrics", "/healthz", "/readyz")]
            plugin.wait_running()
            plugin.signal(signal.SIGTERM)
            out.poll(1.0)
            dlq.poll(1.0)
            count(outcome, ids, out, dlq)
            records = [part for m in [*out.messages, *dlq.messages]
                       for part in (m.value() or b"", m.key() or b"",
                                    *(v or b"" for _, v in m.headers() or []))]
        refused = Plugin(kafka.sasl_ssl, topics, *xs, log=work / "auth-refused.log")
        refused.env = {**os.environ, "BROKER_PLUGIN_SASL_PASSWORD": f"{password}-wrong"}
        refused.start()
        assert refused.process is not None
        try:
            refused.process.wait(120)
        except subprocess.TimeoutExpired:
            refused.signal(signal.SIGKILL)
        refused.reap()
    finally:
        stop_auth_kafka(kafka)
    logs = plugin.log.read_text(errors="replace") + refused.log.read_text(errors="replace")
    errors = [line for line in refused.log.read_text(errors="replace").splitlines()
              if line.startswith("error:")]
    outcome.exit_codes = plugin.exit_codes + refused.exit_codes
    outcome.extra.update(
        exit_codes_ok=outcome.exit_codes == [0, 2] and "Traceback" not in logs,
        password_hits=logs.count(password) + sum(text.count(password) for text in scraped)
        + sum(bytes(r).count(password.encode()) for r in records),
        searched={"log_lines": len(logs.splitlines()), "http_bytes": sum(map(len, scraped)),
                  "records": len(out.messages) + len(dlq.messages)},
        refused_error_lines=len(errors), refused_error=errors[0][:300] if errors else None)
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


# -- driver ----------------------------------------------------------------------------------

SCENARIOS = ("sigkill", "sigkill-eos", "sigkill-rebalance", "sigterm", "poison", "registry",
             "broker-restart", "broker-pause", "auth")
#: Scenarios that stop or freeze the broker: only on a private one (its state directory).
BROKER_SCENARIOS = ("broker-restart", "broker-pause")


def run_battery(bootstrap: str, work: Path, scenarios: Sequence[str], *, alerts: int,
                kills: int, rate: float, n_poison: int, outage_s: float,
                kafka_state: Path | None = None,
                say: Callable[[str], None] = print) -> list[Outcome]:
    def on_broker(pause: bool) -> Outcome:
        if kafka_state is None:
            raise SystemExit("error: broker scenarios stop the broker: run without --bootstrap")
        return broker_outage(bootstrap, work, kafka_state, min(alerts, 5000), rate,
                             outage_s if not pause else min(outage_s, 30.0), pause)

    runs: dict[str, Callable[[], Outcome]] = {
        "broker-restart": lambda: on_broker(pause=False),
        "broker-pause": lambda: on_broker(pause=True),
        "sigkill": lambda: sigkill(bootstrap, work, alerts, kills, 0),
        "sigkill-eos": lambda: sigkill(bootstrap, work, alerts, kills, 0, exactly_once=True),
        "sigkill-rebalance": lambda: sigkill_pair(bootstrap, work, alerts, kills),
        "sigterm": lambda: sigterm(bootstrap, work, min(alerts, 5000)),
        "poison": lambda: poison(bootstrap, work, n_poison),
        "registry": lambda: registry(bootstrap, work, min(alerts, 5000), outage_s, rate),
        "auth": lambda: auth(work, max(min(alerts // 10, 2000), 100)),
    }
    outcomes = []
    for name in scenarios:
        say(f"scenario {name} ...")
        outcome = runs[name]()
        outcomes.append(outcome)
        say(f"  {'PASS' if outcome.passed else 'FAIL'} {json.dumps(asdict(outcome))}")
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true",
                        help="the scripts/test version: 3,000 alerts, 3 kills, 300 poison")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rate", type=float, default=250.0,
                        help="alerts/s streamed during the registry outage")
    parser.add_argument("--poison", type=int, default=10_000)
    parser.add_argument("--outage", type=float, default=60.0, help="registry outage [s]")
    parser.add_argument("--bootstrap", default=os.environ.get("SELFREG_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.short:
        args.alerts, args.kills, args.poison, args.outage = 3000, 3, 300, 8.0
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"error: unknown scenario(s) {sorted(unknown)}; use {SCENARIOS}")
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        work = Path(tmp)
        bootstrap = args.bootstrap or start_local_kafka(work / "kafka", os.getpid())
        try:
            outcomes = run_battery(bootstrap, work, scenarios, alerts=args.alerts,
                                   kills=args.kills, rate=args.rate, n_poison=args.poison,
                                   outage_s=args.outage,
                                   kafka_state=None if args.bootstrap else work / "kafka")
        finally:
            if not args.bootstrap:
                stop_local_kafka(work / "kafka")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) | {"passed": o.passed} for o in outcomes],
                                        indent=1) + "\n")
    sys.exit(0 if all(o.passed for o in outcomes) else 1)


if __name__ == "__main__":
    main()
