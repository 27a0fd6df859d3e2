"""The plugin's producer settings measured: linger.ms and compression for one batch's records.

Run: python bench/bench_produce.py [--records 500] [--repeats 12]

One batch of real output records (the shipped model's answers to 30-point LSST 11.1 alerts,
Avro, keyed by object id, with the content-type header) is produced the way the consumer
loop does it (a delivery callback per record, then `flush`, which the loop waits on before
committing) to a fresh topic on the local broker, with the plugin's idempotent `acks=all`
producer under each setting. Per setting: median wall time of produce + flush (the loop is
blocked that long every batch) and process CPU (librdkafka's threads included), settings
interleaved repeat by repeat; and the bytes the broker stores for the topic afterwards
(its log segments' size in the local broker's data directory).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from confluent_kafka import Producer  # noqa: E402

from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource  # noqa: E402
from broker_plugin.default_model import DEFAULT_MODEL_DIR  # noqa: E402
from broker_plugin.serving.classifier import Classifier  # noqa: E402
from broker_plugin.serving.config import PRODUCER_DEFAULTS  # noqa: E402
from broker_plugin.serving.output import OutputSerializer  # noqa: E402
from broker_plugin.serving.pipeline import AlertPipeline  # noqa: E402
from broker_plugin.serving.produce import iter_alerts  # noqa: E402
from broker_plugin.serving.service import output_schema  # noqa: E402
from devtools.kafka_support import bench_kafka as local_kafka  # noqa: E402
from devtools.kafka_support import create_topics, delete_topics  # noqa: E402
from devtools.kafka_support import unique_topic_name as unique  # noqa: E402
from devtools.serving_data import periodic_curves  # noqa: E402

SETTINGS = [("0", "none"), ("0", "lz4"), ("5", "none"), ("5", "lz4"), ("5", "zstd"),
            ("5", "snappy"), ("20", "lz4")]


def topic_bytes(topic: str) -> int:
    """Bytes of `topic`'s log segments in the local broker's data directory (bench_serving's
    broker, `LOCAL_KAFKA_NAME`, default "bench"): what compression saves on the broker."""
    from devtools.kafka_support import run_local_kafka

    name = os.environ.get("LOCAL_KAFKA_NAME", "bench")
    status = run_local_kafka("status", timeout=30)
    found = re.search(r"state (\S+?)\)", status.stdout + status.stderr)
    state = Path(found.group(1)) if found else Path.home() / ".cache/selfreg-varstars/kafka-run"
    if state.name != name and (state.parent / name).is_dir():
        state = state.parent / name
    return sum(f.stat().st_size for f in state.glob(f"data/{topic}-*/*.log"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=12)
    args = parser.parse_args()
    import lsst.alert.packet as packet

    schema_dir = Path(packet.__file__).parent / "schema"
    curves = periodic_curves(25, points=31, seed=30)
    distinct = [p for _, p in iter_alerts(curves, "lsst", "11.1", 1, schema_dir,
                                          realistic=True)]
    pipeline = AlertPipeline(AlertDecoder(DirectorySchemaSource(schema_dir)),
                             Classifier(DEFAULT_MODEL_DIR, threads=1))
    outcome = pipeline.process([distinct[i % len(distinct)] for i in range(args.records)])
    serializer = OutputSerializer("avro", output_schema(), 1)
    values = [serializer.serialize(c.record) for c in outcome.classified]
    keys = [c.key.encode() for c in outcome.classified]
    bootstrap = local_kafka()
    print(f"broker {bootstrap}; {len(values)} output records of {len(values[0])} bytes per "
          f"batch; {args.repeats} repeats; the plugin's producer "
          f"({PRODUCER_DEFAULTS}) with linger.ms / compression.type varied")
    producers = {}
    for linger, codec in SETTINGS:
        topic = unique("bench-produce")
        create_topics(bootstrap, [topic])
        producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS,
                             "linger.ms": linger, "compression.type": codec})
        producer.produce(topic, b"warm")
        producer.flush(10)
        producers[(linger, codec)] = (producer, topic)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {s: [] for s in SETTINGS}
    for _ in range(args.repeats):
        for setting in SETTINGS:
            producer, topic = producers[setting]
            acknowledged = [0]

            def report(err: object, _msg: object, acked: list[int] = acknowledged) -> None:
                acked[0] += err is None

            wall, cpu = time.perf_counter(), time.process_time()
            for value, key in zip(values, keys, strict=True):
                producer.produce(topic, value=value, key=key, headers=serializer.headers,
                                 on_delivery=report)
            producer.poll(0)
            left = producer.flush(30)
            assert left == 0 and acknowledged[0] == len(values)
            times[setting].append((time.perf_counter() - wall, time.process_time() - cpu))
    time.sleep(1.0)  # let the broker's log sizes settle
    for setting in SETTINGS:
        producer, topic = producers[setting]
        wall = statistics.median(t[0] for t in times[setting]) * 1000
        cpu = statistics.median(t[1] for t in times[setting]) * 1000
        size = topic_bytes(topic)
        stored = f"{size / (args.repeats * len(values)):.0f} B/record" if size else "unknown"
        print(f"  linger.ms={setting[0]:>2} compression={setting[1]:>6}: produce+flush "
              f"{wall:5.1f} ms wall, {cpu:4.1f} ms CPU per batch; broker stores {stored}")
    delete_topics(bootstrap, [t for _, t in producers.values()])


if __name__ == "__main__":
    main()
