"""What consuming big alerts costs the consumer's thread, with and without the malloc settings.

Run: python bench/bench_consume.py [--histories 300,1000] [--repeats 3] [--messages 3000]

For LSST 11.1 realistic alerts of each history length (as bench_serving makes them): one
topic of `--messages` alerts on the local broker, then, alternately in fresh processes,
plain glibc malloc and `broker_plugin.serving.allocator.keep_freed_memory()`: a consumer
reads the topic in batches of 500 (bench_serving's fetch settings) and decodes each batch
with our decoder; the figure is main-thread CPU time (`time.thread_time`) per message in
`Consumer.consume` and in `decode_batch`, after the first batch. CPU time, not wall, so the
shared machine's load moves it less; medians over repeats, and the ratio plain / tuned.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 500


def worker(bootstrap: str, topic: str, total: int, tuned: bool) -> None:
    """One measurement in this process; prints {"consume_us":…, "decode_us":…}."""
    if tuned:
        from broker_plugin.serving.allocator import keep_freed_memory

        assert keep_freed_memory(), "glibc refused the malloc settings"
    import lsst.alert.packet as packet
    from confluent_kafka import Consumer

    from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource
    from devtools.kafka_support import unique_topic_name

    decoder = AlertDecoder(DirectorySchemaSource(Path(packet.__file__).parent / "schema"))
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": unique_topic_name("bench-consume"),
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "fetch.max.bytes": "104857600", "max.partition.fetch.bytes": "52428800",
    })
    consumer.subscribe([topic])
    got, consume_s, decode_s, counted = 0, 0.0, 0.0, 0
    while got < total:
        start = time.thread_time()
        messages = consumer.consume(num_messages=BATCH, timeout=0.5)
        mid = time.thread_time()
        if not messages:
            continue
        decoder.decode_batch([m.value() for m in messages])
        end = time.thread_time()
        if got:  # the first batch pays the start-up
            consume_s += mid - start
            decode_s += end - mid
            counted += len(messages)
        got += len(messages)
    consumer.close()
    print(json.dumps({"consume_us": 1e6 * consume_s / counted,
                      "decode_us": 1e6 * decode_s / counted}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", default="300,1000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--worker", nargs=4, metavar=("BOOTSTRAP", "TOPIC", "N", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        bootstrap, topic, n, mode = args.worker
        worker(bootstrap, topic, int(n), mode == "tuned")
        return
    import lsst.alert.packet as packet

    from broker_plugin.serving.produce import iter_alerts
    from devtools.kafka_support import bench_kafka as local_kafka
    from devtools.kafka_support import create_topics, delete_topics, produce_all
    from devtools.kafka_support import unique_topic_name as unique
    from devtools.serving_data import periodic_curves

    schema_dir = Path(packet.__file__).parent / "schema"
    bootstrap = local_kafka()
    print(f"broker {bootstrap}; {args.messages} alerts per history; {args.repeats} repeats; "
          "main-thread CPU per message")
    for history in (int(h) for h in args.histories.split(",")):
        curves = periodic_curves(25, points=history + 1, seed=history)
        distinct = [p for _, p in iter_alerts(curves, "lsst", "11.1", 1, schema_dir,
                                              realistic=True)]
        topic = unique(f"bench-consume-{history}")
        create_topics(bootstrap, [topic])
        produce_all(bootstrap, topic, [distinct[i % len(distinct)]
                                       for i in range(args.messages)])
        figures: dict[str, list[dict[str, float]]] = {"plain": [], "tuned": []}
        for _ in range(args.repeats):
            for mode in figures:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", bootstrap, topic,
                     str(args.messages), mode],
                    check=True, capture_output=True, text=True, cwd=ROOT)
                figures[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
        delete_topics(bootstrap, [topic])
        med = {m: {k: float(np.median([f[k] for f in runs])) for k in ("consume_us", "decode_us")}
               for m, runs in figures.items()}
        size_kb = np.mean([len(p) for p in distinct]) / 1024
        print(f"  {history:>5} points ({size_kb:.0f} KB): consume {med['plain']['consume_us']:.0f}"
              f" -> {med['tuned']['consume_us']:.0f} us/msg "
              f"({med['plain']['consume_us'] / med['tuned']['consume_us']:.1f}x), decode "
              f"{med['plain']['decode_us']:.0f} -> {med['tuned']['decode_us']:.0f} us/msg "
              f"({med['plain']['decode_us'] / med['tuned']['decode_us']:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
