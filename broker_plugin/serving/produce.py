"""`broker-plugin produce`: a light-curve directory → alert packets on a Kafka topic.

For demos and load tests. Each object (all its bands, grouped by object id) yields K alerts
at its last K epochs (points, all bands in time order); the alert at epoch t carries the
triggering observation and the whole history before it, as a real alert stream would. Formats:

* `lsst` — LSST alert packets of `--schema-version` (Confluent wire format, schema id
  major×100 + minor), built by `broker_plugin.alerts` (schemas from lsst-alert-packet or
  `--schema-dir`);
* `ztf` — ZTF-style packets (Avro container per alert, schema inside), by `broker_plugin.alerts`;
* `compact` — our `schemas/compact_alert.avsc` (Avro container per alert, schema inside, so a
  consumer needs no schema source).

Messages are keyed by object id, so one object's alerts stay in order on one partition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker_plugin.errors import UserError
from broker_plugin.lightcurve import LightCurve

FORMATS = ("lsst", "ztf", "compact")


class ProduceError(UserError, ValueError):
    """A produce option that cannot work (format, schema version, empty directory)."""


@dataclass
class ProduceCounts:
    objects: int = 0
    alerts: int = 0
    bytes: int = 0


def curves_by_object(curves: Sequence[LightCurve]) -> dict[str, list[LightCurve]]:
    """Curves grouped by object id (one entry per band), in first-seen order."""
    grouped: dict[str, list[LightCurve]] = defaultdict(list)
    for curve in curves:
        grouped[curve.object_id].append(curve)
    return dict(grouped)


def n_points(bands: Sequence[LightCurve]) -> int:
    return int(sum(len(c) for c in bands))


def project_schema(name: str) -> dict[str, Any]:
    """One of our schemas (broker_plugin.avro.schema_files: checkout and wheel alike), parsed."""
    from broker_plugin.avro import schema_files as schemas

    return schemas.load(name)


Encoder = Callable[[Sequence[LightCurve], int | None], bytes]


def make_encoder(
    fmt: str, schema_version: str = "11.1", schema_dir: Path | None = None,
    realistic: bool = False,
) -> Encoder:
    """(curves of one object, first `upto` points) → payload bytes, for one format.

    `realistic` (LSST only) varies ids, detectors, counts and nulls from record to record
    as Rubin alerts do, instead of the layout-friendly defaults.
    """
    from broker_plugin import alerts

    if fmt == "lsst":
        from broker_plugin.alerts.lsst_encoder import parse_version
        from broker_plugin.decoding import lsst_schema_id

        schema = alerts.load_lsst_schema(schema_version, schema_dir)
        schema_id = lsst_schema_id(*parse_version(schema_version))
        lsst = alerts.LsstAlertEncoder(schema, realistic=realistic)
        return lambda curves, upto: alerts.serialise(
            schema, lsst.encode(curves, upto=upto), schema_id=schema_id
        )
    if fmt == "ztf":
        ztf_schema = project_schema("ztf_alert")
        ztf = alerts.ZtfAlertEncoder(ztf_schema)
        return lambda curves, upto: alerts.container(ztf_schema, [ztf.encode(curves, upto=upto)])
    if fmt == "compact":
        compact = project_schema("compact_alert")
        return lambda curves, upto: alerts.container(
            compact, [alerts.encode_compact(curves, upto=upto)]
        )
    raise ProduceError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")


def encode_compact_container(object_id: str, bands: Sequence[LightCurve]) -> bytes:
    """One compact alert (Avro container, schema inside) with the object's whole history."""
    return make_encoder("compact")(bands, None)


def iter_alerts(
    curves: Sequence[LightCurve],
    fmt: str,
    schema_version: str = "11.1",
    alerts_per_object: int = 1,
    schema_dir: Path | None = None,
    realistic: bool = False,
) -> Iterator[tuple[str, bytes]]:
    """(object id, payload) for every alert: K per object at its last K points."""
    if alerts_per_object < 1:
        raise ProduceError(f"--alerts-per-object must be >= 1, got {alerts_per_object}")
    encode = make_encoder(fmt, schema_version, schema_dir, realistic)
    for object_id, bands in curves_by_object(curves).items():
        total = n_points(bands)
        for upto in range(max(total - alerts_per_object + 1, 1), total + 1):
            yield object_id, encode(bands, upto)


def produce_alerts(
    bootstrap_servers: str,
    directory: Path,
    fmt: str,
    topic: str,
    schema_version: str = "11.1",
    alerts_per_object: int = 1,
    limit: int | None = None,
    schema_dir: Path | None = None,
    kafka_settings: dict[str, str] | None = None,
) -> ProduceCounts:
    """Publish the directory's objects as alerts; returns what was sent."""
    from confluent_kafka import Producer

    from broker_plugin.lightcurve_dir import read_lightcurve_dir

    curves = read_lightcurve_dir(directory)
    if limit is not None:
        keep = set(list(curves_by_object(curves))[:limit])
        curves = [c for c in curves if c.object_id in keep]
    if not curves:
        raise ProduceError(f"{directory}: no light curves to produce")
    producer = Producer(producer_settings(bootstrap_servers, kafka_settings))
    counts = ProduceCounts()
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(err.str())

    objects = set()
    for object_id, payload in iter_alerts(
        curves, fmt, schema_version, alerts_per_object, schema_dir
    ):
        while True:
            try:
                producer.produce(topic, payload, object_id.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        objects.add(object_id)
        counts.alerts += 1
        counts.bytes += len(payload)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failures:
        raise ProduceError(
            f"{remaining + len(failures)} alert(s) not delivered to {topic} at "
            f"{bootstrap_servers} ({'; '.join(failures[:3]) or 'timeout'}); is Kafka running "
            "(scripts/local-kafka status) and does the topic exist (--create-topic creates it)?"
        )
    counts.objects = len(objects)
    return counts


# --------------------------------------------------------------------------- topic creation

#: Seconds `ensure_topic` waits for the broker to create a topic and for its partition leaders.
CREATE_TIMEOUT_S = 30.0


def producer_settings(
    bootstrap_servers: str, kafka_settings: dict[str, str] | None = None
) -> dict[str, Any]:
    """`produce`'s producer config: ours, the user's -X without consumer-only keys, a logger."""
    from broker_plugin.serving.config import _CONSUMER_ONLY, _only
    from broker_plugin.serving.kafka_logging import with_logger

    settings = {
        "bootstrap.servers": bootstrap_servers,
        "linger.ms": 20,
        **_only(kafka_settings or {}, exclude=_CONSUMER_ONLY),
    }
    return with_logger(settings, "producer")


def admin_settings(
    bootstrap_servers: str, kafka_settings: dict[str, str] | None = None
) -> dict[str, Any]:
    """AdminClient config: the connection part of the user's -X (security etc.), a logger.

    An AdminClient is a producer-type handle to librdkafka, so consumer-only keys would only
    make it warn; producer-only ones are left out too (it sends no messages).
    """
    from broker_plugin.serving.config import _CONSUMER_ONLY, _PRODUCER_ONLY, _only
    from broker_plugin.serving.kafka_logging import with_logger

    settings = _only(_only(kafka_settings or {}, _CONSUMER_ONLY), _PRODUCER_ONLY)
    return with_logger({**settings, "bootstrap.servers": bootstrap_servers}, "admin")


def ensure_topic(
    bootstrap_servers: str,
    topic: str,
    partitions: int = 1,
    replication_factor: int = -1,
    kafka_settings: dict[str, str] | None = None,
    timeout_s: float = CREATE_TIMEOUT_S,
) -> str:
    """Create `topic` (AdminClient) unless it exists; returns the one line to show.

    `replication_factor` -1 means the broker's `default.replication.factor`. An existing
    topic is fine (its partition count is reported, not changed). Any other failure is a
    `ProduceError` naming the topic, the broker and the reason (exit 2 from the CLI).
    After a creation, waits (up to `timeout_s`) until every partition has a leader, so the
    first messages do not meet UNKNOWN_TOPIC_OR_PART.
    """
    from concurrent.futures import TimeoutError as FutureTimeout

    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    if partitions < 1:
        raise ProduceError(f"--partitions must be >= 1, got {partitions}")
    if replication_factor < 1 and replication_factor != -1:
        raise ProduceError(
            f"--replication-factor must be >= 1 (or -1: the broker's default), "
            f"got {replication_factor}"
        )
    where = f"topic {topic!r} at {bootstrap_servers}"
    admin = AdminClient(admin_settings(bootstrap_servers, kafka_settings))
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor)],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    try:
        futures[topic].result(timeout=timeout_s + 5)
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            found = _partition_count(admin, topic, timeout_s)
            return f"{where} already exists{found}; producing to it"
        raise ProduceError(f"cannot create {where}: {_reason(err)}") from exc
    except FutureTimeout as exc:
        raise ProduceError(
            f"cannot create {where}: no answer within {timeout_s:.0f} s; is Kafka running "
            "there (scripts/local-kafka status)?"
        ) from exc
    finally:
        admin.poll(0)  # an AdminClient hands its librdkafka log lines over in poll()
    _wait_for_leaders(admin, topic, timeout_s)
    replication = (
        "the broker's default replication factor"
        if replication_factor == -1
        else f"replication factor {replication_factor}"
    )
    return f"created {where}: {partitions} partition{'s' if partitions != 1 else ''}, {replication}"


def _reason(err: Any) -> str:
    """One line for a KafkaError: its name and text, with a hint for a broker that is away."""
    from confluent_kafka import KafkaError

    text = " ".join(str(err.str()).split())
    reason = f"{err.name()}: {text}"
    if err.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
        reason += "; is Kafka running there (scripts/local-kafka status)?"
    return reason


def _partition_count(admin: Any, topic: str, timeout_s: float) -> str:
    """' (N partitions)' from the cluster's metadata, or '' when it cannot be read."""
    from confluent_kafka import KafkaException

    try:
        metadata = admin.list_topics(timeout=min(timeout_s, 10.0)).topics.get(topic)
    except KafkaException:
        return ""
    if metadata is None:
        return ""
    n = len(metadata.partitions)
    return f" ({n} partition{'s' if n != 1 else ''})"


def _wait_for_leaders(admin: Any, topic: str, timeout_s: float) -> None:
    """Until every partition of the new topic has a leader; best effort (the producer retries).

    Lists all topics (no name): a metadata request naming the topic would make a broker
    with auto-creation on create it, which must never be what made it exist.
    """
    import time

    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            metadata = admin.list_topics(timeout=5).topics.get(topic)
        except KafkaException:
            metadata = None
        if (
            metadata is not None
            and metadata.error is None
            and metadata.partitions
            and all(p.leader >= 0 for p in metadata.partitions.values())
        ):
            return
        time.sleep(0.1)
    admin.poll(0)
