"""End-to-end serving throughput through a real Kafka: our consumer vs a fastavro baseline.

Run: python bench/bench_serving.py [--friendly] [--seconds 2.5] [--repeats 3] [--model RUN]

In ONE run, for LSST 11.1 alerts with 30, 300 and 1,000 history points (prvDiaSources, plus
forced photometry): produce the alerts to a fresh topic on the local broker (started with
scripts/local-kafka if none runs), then drain it with `AlertConsumer` (the code of
`broker-plugin run`: batches, onnxruntime, Avro output records, dead-letter logic,
delivery-acknowledged commits), alternately with our decoder (projection decoder) and with a
plain fastavro decode-everything decoder (`AlertDecoder(fast=False)`: `schemaless_reader`
builds the whole alert dict). Same broker, same alert bytes, same model, same loop; only
decoding differs. Alerts are "realistic" by default (ids, detectors, counts and nulls vary
record to record, as in Rubin's stream); `--friendly` gives every record the same layout.

Each measurement is one consumer (fresh group) reading as many alerts as its pipeline
classifies in about `--seconds` (calibrated beforehand without Kafka; a run also stops once
`--seconds` of wall time have passed since partition assignment), repeated `--repeats`
times, ours and the baseline interleaved so load drifts on a shared machine hit both. Figures
per consumer are medians over repeats: alerts/s (wall, one process, 1 inference thread) and
alerts per CPU-second (process CPU time over the same window, librdkafka threads included:
"per core"); the ratio of ours to the baseline is computed per repeat pair and printed as
median [min–max]; p50/p99 latency (a batch's ingest to its committed offsets); and where the
time goes (share of the loop's time per stage over all repeats; "poll" is consuming from
Kafka).
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
from broker_plugin.serving.config import DEFAULT_BATCH_SIZE, ServingConfig  # noqa: E402
from broker_plugin.serving.consumer import AlertConsumer  # noqa: E402
from broker_plugin.serving.output import OutputSerializer  # noqa: E402
from broker_plugin.serving.pipeline import AlertPipeline  # noqa: E402
from broker_plugin.serving.produce import iter_alerts  # noqa: E402
from broker_plugin.serving.service import output_schema  # noqa: E402
from devtools.kafka_support import create_topics, produce_all  # noqa: E402
from devtools.kafka_support import unique_topic_name as unique  # noqa: E402
from devtools.model_fixture import write_fixture_model  # noqa: E402
from devtools.serving_data import periodic_curves  # noqa: E402

HISTORIES = (30, 300, 1000)
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
    """Observer: times the window from partition assignment to the last batch, and ends the
    run once `seconds` of it have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.consumer: AlertConsumer | None = None
        self.start_wall = self.start_cpu = 0.0
        self.end_wall = self.end_cpu = 0.0
        self.alerts = 0
        self.latencies: list[float] = []

    def assigned(self, delta: int) -> None:
        if delta > 0 and not self.start_wall:
            self.start_wall, self.start_cpu = time.perf_counter(), time.process_time()

    def batch(self, messages, outcome, consumer) -> None:
        self.end_wall, self.end_cpu = time.perf_counter(), time.process_time()
        self.alerts += len(messages)
        latency = time.time() - outcome.times.seconds.get("_ingest", 0.0)
        self.latencies.extend([latency] * len(messages))
        if self.consumer is not None and self.end_wall - self.start_wall >= self.seconds:
            self.consumer.stop("time")

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


def drain(
    bootstrap: str, topic: str, n: int, seconds: float, pipeline: AlertPipeline, serializer
) -> Result:
    """One consumer, fresh group, from the start of `topic` for `seconds` (or all n alerts)."""
    outs = {k: unique(f"bench-{k}") for k in ("out", "dlq")}
    create_topics(bootstrap, outs.values())
    config = ServingConfig(
        bootstrap_servers=bootstrap,
        input_topics=[topic],
        output_topic=outs["out"],
        dlq_topic=outs["dlq"],
        group_id=unique("bench"),
        model_dir=Path("-"),
        survey="auto",  # the pipeline is built here, with its own schema source
        max_messages=n,
        batch_size=DEFAULT_BATCH_SIZE,
        batch_wait_ms=100,
        kafka_settings={"fetch.max.bytes": "104857600", "max.partition.fetch.bytes": "52428800"},
    )
    clock = Clock(seconds)
    consumer = AlertConsumer(config, _Stamped(pipeline), serializer, observer=clock)
    clock.consumer = consumer
    summary = consumer.run()
    assert summary.classified == summary.consumed == clock.alerts, (
        f"classified {summary.classified} of {summary.consumed}"
    )
    stages = dict(summary.times.seconds)
    stages.pop("_ingest", None)
    wall = clock.end_wall - clock.start_wall
    stages["poll"] = max(wall - sum(stages.values()), 0.0)
    return Result(clock.alerts, wall, clock.end_cpu - clock.start_cpu,
                  np.asarray(clock.latencies), stages)


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


def calibrate(pipeline: AlertPipeline, payloads: list[bytes], seconds: float) -> int:
    """Alerts this pipeline classifies in `seconds` of CPU (no Kafka), at least 20."""
    pipeline.process(payloads[:2])  # warm caches (schema, plans, model)
    done, start = 0, time.process_time()
    while time.process_time() - start < 0.4:
        pipeline.process(payloads)
        done += len(payloads)
    return max(int(seconds * done / (time.process_time() - start)), 20)


def _spread(values: list[float]) -> str:
    """median [min-max] of a few figures."""
    return f"{np.median(values):6.1f}x [{min(values):.1f}-{max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: fixture model)")
    parser.add_argument("--seconds", type=float, default=2.5,
                        help="wall seconds per measurement (default 2.5)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measurements per consumer and size (default 3)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--realistic", dest="friendly", action="store_false",
                      help="alerts whose ids, detectors, counts and nulls vary per record "
                           "(default)")
    mode.add_argument("--friendly", action="store_true",
                      help="layout-friendly alerts: every record has the same binary layout")
    parser.set_defaults(friendly=False)
    args = parser.parse_args()
    import lsst.alert.packet as packet

    schema_dir = Path(packet.__file__).parent / "schema"
    model = args.model or write_fixture_model(
        Path(os.environ.get("TMPDIR", "/tmp")) / "bench-model"
    )
    classifier = Classifier(model, threads=1)
    source = DirectorySchemaSource(schema_dir)
    consumers = {
        "ours": AlertPipeline(AlertDecoder(source), classifier),
        "fastavro": AlertPipeline(AlertDecoder(source, fast=False), classifier),
    }
    serializer = OutputSerializer("avro", output_schema(), 1)
    bootstrap = local_kafka()
    kind = "layout-friendly" if args.friendly else "realistic"
    print(f"broker {bootstrap}; model {model}; cores visible {os.cpu_count()}; {kind} alerts; "
          f"{args.repeats} x {args.seconds:g} s per consumer and size", flush=True)

    rows = []
    for history in HISTORIES:
        curves = periodic_curves(25, points=history + 1, seed=history)
        distinct = [p for _, p in iter_alerts(curves, "lsst", "11.1", 1, schema_dir,
                                              realistic=not args.friendly)]
        size_kb = np.mean([len(p) for p in distinct]) / 1024
        counts = {name: calibrate(p, distinct, args.seconds) for name, p in consumers.items()}
        n = max(counts.values())
        topic = unique(f"bench-in-{history}")
        create_topics(bootstrap, [topic])
        produce_all(bootstrap, topic, [distinct[i % len(distinct)] for i in range(n)])
        results: dict[str, list[Result]] = {name: [] for name in consumers}
        for _ in range(args.repeats):
            for name, pipeline in consumers.items():
                results[name].append(drain(bootstrap, topic, counts[name], args.seconds,
                                           pipeline, serializer))
        print(f"  {history} points done", flush=True)
        rows.append((history, size_kb, results))

    print(f"\nLSST 11.1 {kind} alerts, end to end through Kafka "
          "(consume -> classify -> produce -> commit); medians of "
          f"{args.repeats} runs")
    head = f"{'history':>7} {'KB':>6} {'consumer':>9} {'alerts':>6} {'alerts/s':>9} "
    head += f"{'/CPU-s':>8} {'p50 ms':>7} {'p99 ms':>7}  " + " ".join(f"{s:>9}" for s in STAGES)
    print(head)
    for history, size_kb, results in rows:
        for name, runs in results.items():
            stages = {s: sum(r.stages.get(s, 0.0) for r in runs) for s in STAGES}
            total = sum(stages.values()) or 1.0
            shares = " ".join(f"{100 * stages[s] / total:8.1f}%" for s in STAGES)
            lat = np.concatenate([r.latencies for r in runs])
            p50, p99 = (np.percentile(lat, q) * 1000 for q in (50, 99))
            alerts = int(np.median([r.alerts for r in runs]))
            rate = np.median([r.rate for r in runs])
            per_cpu = np.median([r.per_cpu for r in runs])
            print(f"{history:>7} {size_kb:6.0f} {name:>9} {alerts:>6} {rate:9.1f} "
                  f"{per_cpu:8.1f} {p50:7.0f} {p99:7.0f}  {shares}")
    print("\nratio ours / fastavro baseline, per repeat pair: median [min-max]")
    print(f"  {'history':>7}  {'alerts/s wall':>20}  {'alerts per CPU-second':>22}")
    for history, _, results in rows:
        pairs = list(zip(results["ours"], results["fastavro"], strict=True))
        wall = [o.rate / b.rate for o, b in pairs]
        cpu = [o.per_cpu / b.per_cpu for o, b in pairs]
        print(f"  {history:>7}  {_spread(wall):>20}  {_spread(cpu):>22}")


if __name__ == "__main__":
    main()
