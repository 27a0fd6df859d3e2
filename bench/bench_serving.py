"""End-to-end serving throughput through a real Kafka: our consumer vs a fastavro baseline.

Run: python bench/bench_serving.py [--friendly] [--seconds 2.5] [--repeats 3] [--model RUN]
     [--histories 30,300,1000] [--batch-size N] [-X key=value ...] [--no-baseline]
     [--json FILE]

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

The model is the package's shipped default (broker_plugin/_model) unless `--model` names
another (a checkout without one falls back to the one-member test fixture, and says so;
`--model fixture` asks for that fixture, the model of the README's first serving figures).
`-X key=value` passes librdkafka settings to the plugin's clients as `run -X` does (e.g.
`-X linger.ms=0 -X compression.type=none` to measure the producer defaults);
`--no-baseline` skips the fastavro consumer (for such sweeps: ratios then compare runs).
`--json FILE` writes, per history length, `ours_alerts_per_s`, `baseline_alerts_per_s`,
`ratio` (and its min/max over repeat pairs), per-CPU-second figures, `p50_ms`/`p99_ms`, the
stage shares and the process's peak RSS, with the command line and settings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource  # noqa: E402
from broker_plugin.default_model import DEFAULT_MODEL_DIR  # noqa: E402
from broker_plugin.serving.classifier import Classifier  # noqa: E402
from broker_plugin.serving.config import (  # noqa: E402
    DEFAULT_BATCH_SIZE,
    ServingConfig,
    parse_kafka_settings,
)
from broker_plugin.serving.consumer import AlertConsumer  # noqa: E402
from broker_plugin.serving.output import OutputSerializer  # noqa: E402
from broker_plugin.serving.pipeline import AlertPipeline  # noqa: E402
from broker_plugin.serving.produce import iter_alerts  # noqa: E402
from broker_plugin.serving.service import output_schema  # noqa: E402
from devtools.kafka_support import bench_kafka as local_kafka  # noqa: E402
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


def drain(
    bootstrap: str, topic: str, n: int, seconds: float, pipeline: AlertPipeline, serializer,
    batch_size: int = DEFAULT_BATCH_SIZE, settings: dict[str, str] | None = None,
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
        batch_size=batch_size,
        batch_wait_ms=100,
        kafka_settings={"fetch.max.bytes": "104857600", "max.partition.fetch.bytes": "52428800",
                        **(settings or {})},
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


def _consumer_figures(runs: list[Result]) -> dict[str, object]:
    """Medians over repeats, latency percentiles over all batches, stage shares in %."""
    stages = {s: sum(r.stages.get(s, 0.0) for r in runs) for s in STAGES}
    total = sum(stages.values()) or 1.0
    lat = np.concatenate([r.latencies for r in runs])
    return {
        "alerts": int(np.median([r.alerts for r in runs])),
        "alerts_per_s": float(np.median([r.rate for r in runs])),
        "alerts_per_cpu_s": float(np.median([r.per_cpu for r in runs])),
        "p50_ms": float(np.percentile(lat, 50) * 1000),
        "p99_ms": float(np.percentile(lat, 99) * 1000),
        "stage_shares": {s: round(100 * stages[s] / total, 2) for s in STAGES},
    }


def summarise(history: int, size_kb: float, results: dict[str, list[Result]]
              ) -> dict[str, object]:
    """One history length's figures, under the names issue 20 asks for in --json."""
    ours = _consumer_figures(results["ours"])
    row: dict[str, object] = {
        "history_points": history,
        "alert_kb": round(size_kb, 1),
        "ours_alerts_per_s": ours["alerts_per_s"],
        "ours_alerts_per_cpu_s": ours["alerts_per_cpu_s"],
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "stage_shares": ours["stage_shares"],
        "ours": ours,
    }
    if "fastavro" in results:
        base = _consumer_figures(results["fastavro"])
        pairs = list(zip(results["ours"], results["fastavro"], strict=True))
        wall = [o.rate / b.rate for o, b in pairs]
        cpu = [o.per_cpu / b.per_cpu for o, b in pairs]
        row.update(
            baseline_alerts_per_s=base["alerts_per_s"],
            baseline_alerts_per_cpu_s=base["alerts_per_cpu_s"],
            ratio=float(np.median(wall)), ratio_min=min(wall), ratio_max=max(wall),
            ratio_per_cpu_s=float(np.median(cpu)), ratio_per_cpu_s_min=min(cpu),
            ratio_per_cpu_s_max=max(cpu), baseline=base,
        )
    return row


def _histories(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"comma-separated point counts >= 2, got {text!r}")
    return values


def default_model() -> tuple[Path, str]:
    """The shipped model when this checkout has one, else the one-member test fixture."""
    if (DEFAULT_MODEL_DIR / "model.onnx").is_file():
        return DEFAULT_MODEL_DIR, "shipped default"
    fixture = write_fixture_model(Path(os.environ.get("TMPDIR", "/tmp")) / "bench-model")
    return fixture, "one-member test fixture (no shipped model in this checkout)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path,
                        help="model directory (default: the shipped model; 'fixture': the "
                             "one-member test model the earliest README figures used)")
    parser.add_argument("--seconds", type=float, default=2.5,
                        help="wall seconds per measurement (default 2.5)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measurements per consumer and size (default 3)")
    parser.add_argument("--histories", type=_histories, default=HISTORIES,
                        help="history lengths, comma-separated (default 30,300,1000)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"the plugin's --batch-size (default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("-X", "--kafka-setting", action="append", default=[],
                        metavar="KEY=VALUE", help="librdkafka setting for the plugin's clients")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the fastavro consumer (no ratios)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the figures as JSON to FILE")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--realistic", dest="friendly", action="store_false",
                      help="alerts whose ids, detectors, counts and nulls vary per record "
                           "(default)")
    mode.add_argument("--friendly", action="store_true",
                      help="layout-friendly alerts: every record has the same binary layout")
    parser.set_defaults(friendly=False)
    args = parser.parse_args()
    settings = parse_kafka_settings(args.kafka_setting)
    load_start = os.getloadavg()  # the machine is shared: the JSON says how busy it was
    import lsst.alert.packet as packet

    schema_dir = Path(packet.__file__).parent / "schema"
    if args.model == Path("fixture"):
        model, model_kind = write_fixture_model(
            Path(os.environ.get("TMPDIR", "/tmp")) / "bench-model"), "one-member test fixture"
    elif args.model:
        model, model_kind = args.model, "--model"
    else:
        model, model_kind = default_model()
    classifier = Classifier(model, threads=1)
    source = DirectorySchemaSource(schema_dir)
    consumers = {"ours": AlertPipeline(AlertDecoder(source), classifier)}
    if args.baseline:
        consumers["fastavro"] = AlertPipeline(AlertDecoder(source, fast=False), classifier)
    serializer = OutputSerializer("avro", output_schema(), 1)
    bootstrap = local_kafka()
    kind = "layout-friendly" if args.friendly else "realistic"
    print(f"broker {bootstrap}; model {model} ({model_kind}, {classifier.name} "
          f"{classifier.version}); cores visible {os.cpu_count()}; {kind} alerts; "
          f"{args.repeats} x {args.seconds:g} s per consumer and size; batch "
          f"{args.batch_size}; settings {settings or 'defaults'}", flush=True)

    rows = []
    for history in args.histories:
        curves = periodic_curves(25, points=history + 1, seed=history)
        distinct = [p for _, p in iter_alerts(curves, "lsst", "11.1", 1, schema_dir,
                                              realistic=not args.friendly)]
        size_kb = float(np.mean([len(p) for p in distinct]) / 1024)
        counts = {name: calibrate(p, distinct, args.seconds) for name, p in consumers.items()}
        n = max(counts.values())
        topic = unique(f"bench-in-{history}")
        create_topics(bootstrap, [topic])
        produce_all(bootstrap, topic, [distinct[i % len(distinct)] for i in range(n)])
        results: dict[str, list[Result]] = {name: [] for name in consumers}
        for _ in range(args.repeats):
            for name, pipeline in consumers.items():
                results[name].append(drain(bootstrap, topic, counts[name], args.seconds,
                                           pipeline, serializer, args.batch_size, settings))
        print(f"  {history} points done", flush=True)
        rows.append((history, size_kb, results))

    print(f"\nLSST 11.1 {kind} alerts, end to end through Kafka "
          "(consume -> classify -> produce -> commit); medians of "
          f"{args.repeats} runs")
    head = f"{'history':>7} {'KB':>6} {'consumer':>9} {'alerts':>6} {'alerts/s':>9} "
    head += f"{'/CPU-s':>8} {'p50 ms':>7} {'p99 ms':>7}  " + " ".join(f"{s:>9}" for s in STAGES)
    print(head)
    summaries = []
    for history, size_kb, results in rows:
        summaries.append(summarise(history, size_kb, results))
        for name, runs in results.items():
            f = _consumer_figures(runs)
            shares = " ".join(f"{v:8.1f}%" for v in f["stage_shares"].values())  # type: ignore[attr-defined]
            print(f"{history:>7} {size_kb:6.0f} {name:>9} {f['alerts']:>6} "
                  f"{f['alerts_per_s']:9.1f} {f['alerts_per_cpu_s']:8.1f} {f['p50_ms']:7.0f} "
                  f"{f['p99_ms']:7.0f}  {shares}")
    if args.baseline:
        print("\nratio ours / fastavro baseline, per repeat pair: median [min-max]")
        print(f"  {'history':>7}  {'alerts/s wall':>20}  {'alerts per CPU-second':>22}")
        for history, _, results in rows:
            pairs = list(zip(results["ours"], results["fastavro"], strict=True))
            wall = [o.rate / b.rate for o, b in pairs]
            cpu = [o.per_cpu / b.per_cpu for o, b in pairs]
            print(f"  {history:>7}  {_spread(wall):>20}  {_spread(cpu):>22}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process (both consumers, all sizes): {peak_mib:.0f} MiB")
    if args.json:
        report = {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": str(model), "model_kind": model_kind,
            "model_name": classifier.name, "model_version": classifier.version,
            "alerts": f"LSST 11.1 {kind}", "cores_visible": os.cpu_count(),
            "seconds": args.seconds, "repeats": args.repeats, "batch_size": args.batch_size,
            "kafka_settings": settings, "peak_rss_mib": round(peak_mib, 1),
            "load_average_1m": {"start": load_start[0], "end": os.getloadavg()[0]},
            "histories": summaries,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
