"""End-to-end serving throughput through a real Kafka: our consumer vs a fastavro baseline.

Run: python bench/bench_serving.py [--model RUN] [--scale 1.0]

In ONE run, for LSST 11.1 alerts with 30, 300 and 1,000 history points (prvDiaSources):
produce N alerts to a fresh topic on the local broker (started with scripts/local-kafka if
none runs), then drain it with `AlertConsumer` (the code of `broker-plugin run`: batches,
onnxruntime, Avro output records, dead-letter logic, delivery-acknowledged commits), once
with our decoder (projection decoder) and once with a plain fastavro decode-everything
decoder (`AlertDecoder(fast=False)`: `schemaless_reader` builds the whole alert dict). Same
broker, same alert bytes, same model, same loop; only decoding differs.

Figures: alerts/s (wall, one consumer process, 1 inference thread), alerts per CPU-second
(process CPU time over the same window: "per core"), the ratio of ours to the baseline,
p50/p99 batch latency (a batch's ingest to its committed offsets, per alert), and where the
time goes (share of the loop's time per stage; "poll" is consuming from Kafka).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource  # noqa: E402
from broker_plugin.serving.classifier import Classifier  # noqa: E402
from broker_plugin.serving.config import ServingConfig  # noqa: E402
from broker_plugin.serving.consumer import AlertConsumer  # noqa: E402
from broker_plugin.serving.output import OutputSerializer  # noqa: E402
from broker_plugin.serving.pipeline import AlertPipeline  # noqa: E402
from broker_plugin.serving.produce import iter_alerts  # noqa: E402
from broker_plugin.serving.service import output_schema  # noqa: E402
from tests.kafka_support import create_topics, produce_all  # noqa: E402
from tests.kafka_support import unique_topic_name as unique  # noqa: E402
from tests.model_fixture import write_fixture_model  # noqa: E402
from tests.serving_data import periodic_curves  # noqa: E402

HISTORIES = (30, 300, 1000)
#: Alerts per run (ours, baseline) at scale 1: a few seconds each on one busy core.
SIZES = {30: (2000, 150), 300: (800, 40), 1000: (300, 16)}
STAGES = ("poll", "decode", "features", "inference", "build", "produce", "commit")


@dataclass
class Result:
    alerts: int
    wall: float
    cpu: float
    latencies: np.ndarray
    stages: dict[str, float]

    @property
    def rate(self) -> float:
        return self.alerts / self.wall

    @property
    def per_cpu(self) -> float:
        return self.alerts / self.cpu


class Clock:
    """Observer that timestamps the window from partition assignment to the last batch."""

    def __init__(self) -> None:
        self.start_wall = self.start_cpu = 0.0
        self.end_wall = self.end_cpu = 0.0
        self.latencies: list[float] = []

    def assigned(self, delta: int) -> None:
        if delta > 0 and not self.start_wall:
            self.start_wall, self.start_cpu = time.perf_counter(), time.process_time()

    def batch(self, messages, outcome, consumer) -> None:
        self.end_wall, self.end_cpu = time.perf_counter(), time.process_time()
        latency = time.time() - outcome.times.seconds.get("_ingest", 0.0)
        self.latencies.extend([latency] * len(messages))

    def tick(self) -> None: ...
    def running(self, running: bool) -> None: ...
    def idle(self, consumer) -> None: ...


def local_kafka() -> str:
    """The bootstrap address of the local broker, starting it if needed."""
    script = ROOT / "scripts" / "local-kafka"
    env = {**os.environ, "LOCAL_KAFKA_NAME": os.environ.get("LOCAL_KAFKA_NAME", "bench")}
    out = subprocess.run(
        [str(script), "start"], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def drain(bootstrap: str, topic: str, n: int, pipeline: AlertPipeline, serializer) -> Result:
    outs = {k: unique(f"bench-{k}") for k in ("out", "dlq")}
    create_topics(bootstrap, outs.values())
    config = ServingConfig(
        bootstrap_servers=bootstrap,
        input_topics=[topic],
        output_topic=outs["out"],
        dlq_topic=outs["dlq"],
        group_id=unique("bench"),
        model_dir=Path("-"),
        max_messages=n,
        batch_size=500,
        batch_wait_ms=100,
        kafka_settings={"fetch.max.bytes": "104857600", "max.partition.fetch.bytes": "52428800"},
    )
    clock = Clock()
    consumer = AlertConsumer(config, _Stamped(pipeline), serializer, observer=clock)
    summary = consumer.run()
    assert summary.classified == n, f"classified {summary.classified} of {n}"
    stages = dict(summary.times.seconds)
    stages.pop("_ingest", None)
    wall = clock.end_wall - clock.start_wall
    stages["poll"] = max(wall - sum(stages.values()), 0.0)
    return Result(n, wall, clock.end_cpu - clock.start_cpu, np.asarray(clock.latencies), stages)


class _Stamped:
    """Wraps the pipeline to record each batch's ingest time for the latency figure."""

    def __init__(self, pipeline: AlertPipeline) -> None:
        self.pipeline = pipeline
        self.card = pipeline.card

    def process(self, payloads, ingest_ms=None):
        start = time.time()
        outcome = self.pipeline.process(payloads, ingest_ms)
        outcome.times.seconds["_ingest"] = start
        return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: fixture model)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply alert counts")
    parser.add_argument("--realistic", action="store_true",
                        help="LSST alerts whose ids, detectors, counts and nulls vary per record")
    args = parser.parse_args()
    import lsst.alert.packet as packet

    schema_dir = Path(packet.__file__).parent / "schema"
    model = args.model or write_fixture_model(
        Path(os.environ.get("TMPDIR", "/tmp")) / "bench-model"
    )
    classifier = Classifier(model, threads=1)
    source = DirectorySchemaSource(schema_dir)
    ours = AlertPipeline(AlertDecoder(source), classifier)
    baseline = AlertPipeline(AlertDecoder(source, fast=False), classifier)
    serializer = OutputSerializer("avro", output_schema(), 1)
    bootstrap = local_kafka()
    print(f"broker {bootstrap}; model {model}; cores visible {os.cpu_count()}")

    rows = []
    for history in HISTORIES:
        n_ours, n_base = (max(int(k * args.scale), 4) for k in SIZES[history])
        curves = periodic_curves(25, points=history + 1, seed=history)
        distinct = [p for _, p in iter_alerts(curves, "lsst", "11.1", 1, schema_dir,
                                              realistic=args.realistic)]
        size_kb = np.mean([len(p) for p in distinct]) / 1024
        results = {}
        for name, pipeline, n in (("ours", ours, n_ours), ("fastavro", baseline, n_base)):
            topic = unique(f"bench-in-{history}")
            create_topics(bootstrap, [topic])
            produce_all(bootstrap, topic, [distinct[i % len(distinct)] for i in range(n)])
            results[name] = drain(bootstrap, topic, n, pipeline, serializer)
        rows.append((history, size_kb, results))

    kind = "realistic" if args.realistic else "layout-friendly"
    print(f"\nLSST 11.1 {kind} alerts, end to end through Kafka "
          "(consume -> classify -> produce -> commit)")
    head = f"{'history':>7} {'KB':>6} {'consumer':>9} {'alerts':>6} {'alerts/s':>9} "
    head += f"{'/CPU-s':>8} {'p50 ms':>7} {'p99 ms':>7}  " + " ".join(f"{s:>9}" for s in STAGES)
    print(head)
    for history, size_kb, results in rows:
        for name, r in results.items():
            total = sum(r.stages.values()) or 1.0
            shares = " ".join(f"{100 * r.stages.get(s, 0) / total:8.1f}%" for s in STAGES)
            p50, p99 = (np.percentile(r.latencies, q) * 1000 for q in (50, 99))
            print(
                f"{history:>7} {size_kb:6.0f} {name:>9} {r.alerts:>6} {r.rate:9.1f} "
                f"{r.per_cpu:8.1f} {p50:7.0f} {p99:7.0f}  {shares}"
            )
    print("\nratio ours / fastavro baseline (alerts/s wall | alerts per CPU-second):")
    for history, _, results in rows:
        o, b = results["ours"], results["fastavro"]
        print(f"  {history:>5} points: {o.rate / b.rate:6.1f}x | {o.per_cpu / b.per_cpu:6.1f}x")


if __name__ == "__main__":
    main()
