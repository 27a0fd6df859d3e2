"""Open-loop latency under load: alerts at a fixed rate into Kafka, `broker-plugin run` apart.

Run: python bench/bench_latency.py [--rates 500,1000,2000] [--seconds 40] [--points 300]
     [--model RUN] [--json FILE] [-- PLUGIN-ARGS...]

For each rate, on the local broker (scripts/local-kafka, as bench_serving uses): fresh input,
output and dead-letter topics, all with `message.timestamp.type=LogAppendTime`, so each
record's timestamp is the broker's append time; `broker-plugin run` started as its own
process (its defaults: the shipped model, batch size and wait, producer settings; anything
after `--` is passed to it); a warm-up of a few alerts until the first answer is out (model
load, first fetch); then this process produces realistic LSST 11.1 alerts of `--points`
history points (as bench_serving makes them) open-loop, message i due at t0 + i/rate
whatever the plugin does, for `--seconds`. Afterwards it waits for the plugin to drain (at
most `--drain` seconds), stops it with SIGTERM and reads the output topic back.

Latency of an alert = its output record's append time - its input record's append time
(the producer's delivery reports carry the input's append time and offset; one input
partition, one output partition, every alert classified, so the k-th output record answers
the k-th input: checked alert id by alert id). Reported per rate: p50/p99/max over the
measured alerts (one not answered by the end of the drain counts as infinitely late), the
rate the producer achieved, the lag (alerts appended to the input and not yet answered) over
time, its growth over the second half of the run (a least-squares slope, alerts/s), the
plugin's CPU per answered alert, the cores it got (CPU seconds / wall seconds over the load
and the drain) and its peak RSS (VmHWM). A rate "holds" when p99 <=
`--p99-budget-ms` (250) and the lag's slope over the second half is under `--lag-growth`
(2 %) of the rate: the highest such rate is the answer the issue asks for.

The machine running the bench, the broker and the plugin is one box: on a shared 2-core
machine the broker and this producer take CPU from the plugin, so the figures are a floor
for a plugin given 2 cores of its own. The JSON records the load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from confluent_kafka import Producer  # noqa: E402

from broker_plugin.default_model import DEFAULT_MODEL_DIR  # noqa: E402
from broker_plugin.serving.output import OutputSerializer  # noqa: E402
from broker_plugin.serving.produce import iter_alerts  # noqa: E402
from broker_plugin.serving.service import output_schema  # noqa: E402
from devtools.kafka_support import TopicReader, create_topics, delete_topics  # noqa: E402
from devtools.kafka_support import bench_kafka as local_kafka  # noqa: E402
from devtools.kafka_support import unique_topic_name as unique  # noqa: E402
from devtools.serving_data import periodic_curves  # noqa: E402

RATES = (500, 1000, 2000)
LOG_APPEND = {"message.timestamp.type": "LogAppendTime"}
#: Distinct alerts cycled through (their ids tell output records apart in the check).
DISTINCT = 200
WARMUP = 20


@dataclass
class Sent:
    """Delivery reports of the input: offset → broker append time (ms) and which payload
    (its index travels as the record key), so a retried, reordered send cannot mislead the
    id check."""

    append_ms: dict[int, int] = field(default_factory=dict)
    payload: dict[int, int] = field(default_factory=dict)
    failed: int = 0

    def report(self, err, msg) -> None:
        if err is not None:
            self.failed += 1
            return
        self.append_ms[msg.offset()] = msg.timestamp()[1]
        self.payload[msg.offset()] = int(msg.key())


def start_plugin(bootstrap: str, topics: dict[str, str], schema_dir: Path,
                 model: Path | None, extra: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    """`broker-plugin run` as its own process; its log lines collected by a thread."""
    command = [
        sys.executable, "-m", "broker_plugin", "run",
        "--bootstrap-servers", bootstrap,
        "--input-topic", topics["in"], "--output-topic", topics["out"],
        "--dlq-topic", topics["dlq"], "--group-id", topics["group"],
        "--schema-dir", str(schema_dir), "--survey", "lsst", "--no-metrics",
        *(["--model", str(model)] if model else []), *extra,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=ROOT)
    lines: list[str] = []

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())

    threading.Thread(target=collect, daemon=True).start()
    return process, lines


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return cpu, hwm


def produce_open_loop(producer: Producer, topic: str, payloads: list[bytes], rate: float,
                      seconds: float, sent: Sent, start_index: int) -> tuple[int, float, float]:
    """Message i due at t0 + i/rate, sent when due whatever the consumer does.

    Returns (messages sent, wall seconds, largest lateness of a send behind its due time).
    """
    n = int(rate * seconds)
    t0 = time.perf_counter()
    late = 0.0
    i = 0
    while i < n:
        now = time.perf_counter()
        due = int((now - t0) * rate) + 1
        while i < min(due, n):
            late = max(late, now - (t0 + i / rate))
            index = (start_index + i) % len(payloads)
            while True:
                try:
                    producer.produce(topic, payloads[index], key=b"%d" % index, partition=0,
                                     on_delivery=sent.report)
                    break
                except BufferError:
                    producer.poll(0.01)
            i += 1
        producer.poll(0)
        wait = t0 + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(min(wait, 0.005))
    return n, time.perf_counter() - t0, late


def lag_series(in_ms: np.ndarray, out_ms: np.ndarray, step_s: float) -> list[dict[str, float]]:
    """Alerts appended to the input and not yet answered, every `step_s` seconds."""
    in_sorted, out_sorted = np.sort(in_ms), np.sort(out_ms)
    start = int(in_sorted[0])
    end = int(max(in_sorted[-1], out_sorted[-1] if out_sorted.size else 0))
    ticks = np.arange(start, end + 1, step_s * 1000)
    lag = (np.searchsorted(in_sorted, ticks, side="right")
           - np.searchsorted(out_sorted, ticks, side="right"))
    return [{"t_s": round(float((t - start) / 1000), 2), "lag": int(n)}
            for t, n in zip(ticks, lag, strict=True)]


def measure(rate: int, args: argparse.Namespace, bootstrap: str, schema_dir: Path,
            payloads: list[bytes], payload_ids: list[str]) -> dict[str, object]:
    """One rate: fresh topics, fresh plugin, open-loop load, figures."""
    topics = {k: unique(f"latency-{k}") for k in ("in", "out", "dlq")}
    create_topics(bootstrap, topics.values(), partitions=1, config=LOG_APPEND)
    topics["group"] = unique("latency")
    process, log = start_plugin(bootstrap, topics, schema_dir, args.model, args.plugin_args)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "enable.idempotence": True,  # retries keep order, no duplicates
                         "queue.buffering.max.kbytes": 1048576})
    sent = Sent()
    try:
        # Warm-up: the plugin loads its model and joins; the first answers mark it ready.
        for i in range(WARMUP):
            producer.produce(topics["in"], payloads[i], key=b"%d" % i, partition=0,
                             on_delivery=sent.report)
        producer.flush(30)
        with TopicReader(bootstrap, topics["out"], "read_uncommitted") as reader:
            got = reader.read(WARMUP, timeout_s=120)
        if len(got) < WARMUP:
            raise SystemExit(f"plugin answered {len(got)} of {WARMUP} warm-up alerts:\n"
                             + "\n".join(log[-20:]))
        cpu0, _ = proc_stats(process.pid)
        wall0 = time.monotonic()
        load_start = os.getloadavg()[0]
        n, wall, late = produce_open_loop(producer, topics["in"], payloads, rate, args.seconds,
                                          sent, WARMUP)
        producer.flush(30)
        total = WARMUP + n
        deadline = time.monotonic() + args.drain
        with TopicReader(bootstrap, topics["out"], "read_uncommitted") as reader:
            while len(reader.messages) < total and time.monotonic() < deadline:
                reader.poll(0.5)
            out = reader.messages
        cpu1, rss = proc_stats(process.pid)
        window = time.monotonic() - wall0
        load_end = os.getloadavg()[0]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
    serializer = OutputSerializer("avro", output_schema(), 1)
    stamps = [m.timestamp()[1] for m in out]
    ids = [str(serializer.deserialize(m.value() or b"")["alert_id"]) for m in out]
    drained = len(out)
    delete_topics(bootstrap, [topics["in"], topics["out"], topics["dlq"]])

    offsets = sorted(sent.append_ms)
    k = min(len(stamps), len(offsets))
    expected_ids = [payload_ids[sent.payload[o]] for o in offsets[:k]]
    wrong = [i for i, (a, b) in enumerate(zip(ids[:k], expected_ids, strict=True)) if a != b]
    mismatched = len(wrong)
    in_ms = np.asarray([sent.append_ms[o] for o in offsets], dtype=np.int64)
    out_ms = np.asarray(stamps[:k], dtype=np.int64)
    # Alerts never answered within the drain count as infinitely late (not left out).
    latency = np.full(len(in_ms) - WARMUP, np.inf)
    latency[:max(k - WARMUP, 0)] = (out_ms[WARMUP:k] - in_ms[WARMUP:k]).astype(float)
    series = lag_series(in_ms[WARMUP:], out_ms[WARMUP:], args.step)
    run_end_s = args.seconds
    half = [p for p in series if run_end_s / 2 <= p["t_s"] <= run_end_s]
    slope = (float(np.polyfit([p["t_s"] for p in half], [p["lag"] for p in half], 1)[0])
             if len(half) >= 2 else float("nan"))
    p50, p99, worst = (float(np.percentile(latency, q, method="higher")) if latency.size
                       else float("nan") for q in (50, 99, 100))
    holds = bool(p99 <= args.p99_budget_ms and slope < args.lag_growth * rate
                 and k == total and mismatched == 0)
    return {
        "rate": rate,
        "achieved_rate": n / wall,
        "producer_max_late_ms": late * 1000,
        "sent": total, "answered": drained, "matched": k, "id_mismatches": mismatched,
        "first_mismatches": wrong[:10],
        "delivery_failures": sent.failed,
        "p50_ms": _finite(p50), "p99_ms": _finite(p99), "max_ms": _finite(worst),
        "lag_slope_second_half_per_s": slope,
        "lag_max": max((p["lag"] for p in series), default=0),
        "holds": holds,
        # CPU over the load and drain, per alert answered in that time; and the cores the
        # plugin got (a starved plugin on a shared machine shows here).
        "plugin_cpu_s_per_alert_ms": 1000 * (cpu1 - cpu0) / max(k - WARMUP, 1),
        "plugin_cores_used": (cpu1 - cpu0) / window,
        "plugin_peak_rss_mib": rss,
        "load_average_1m": {"start": load_start, "end": load_end},
        "lag_over_time": series,
    }


def _model_version(model: Path) -> str:
    """name:version from the model card (the shipped model changes between runs)."""
    try:
        card = json.loads((model / "model_card.json").read_text())
        return f"{card.get('name', '?')}:{card.get('version', '?')}"
    except (OSError, ValueError):
        return "unknown"


def _finite(value: float) -> float | None:
    """None for 'not answered within the drain' (JSON has no infinity)."""
    return value if np.isfinite(value) else None


def _ms(value: object) -> str:
    return f"{value:.0f} ms" if isinstance(value, float) else "unanswered"


def _rates(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(",") if v.strip())
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"comma-separated rates >= 1, got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=_rates, default=RATES,
                        help="alerts/s, comma-separated (default 500,1000,2000)")
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="seconds of load per rate (default 40)")
    parser.add_argument("--points", type=int, default=300,
                        help="history points per alert (default 300)")
    parser.add_argument("--drain", type=float, default=60.0,
                        help="seconds to wait for the plugin to answer everything (default 60)")
    parser.add_argument("--step", type=float, default=1.0,
                        help="seconds between lag samples (default 1)")
    parser.add_argument("--p99-budget-ms", type=float, default=250.0)
    parser.add_argument("--lag-growth", type=float, default=0.02,
                        help="largest lag slope that counts as steady, a fraction of the rate")
    parser.add_argument("--model", type=Path, help="model directory (default: the shipped)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    parser.add_argument("plugin_args", nargs="*",
                        help="after --: extra `broker-plugin run` options")
    args = parser.parse_args()
    import lsst.alert.packet as packet

    schema_dir = Path(packet.__file__).parent / "schema"
    curves = periodic_curves(DISTINCT, points=args.points + 1, seed=args.points)
    payloads = [p for _, p in iter_alerts(curves, "lsst", "11.1", 1, schema_dir,
                                          realistic=True)]
    # Alert ids in the order the output will carry them (decoded as the plugin does).
    from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource

    decoded = AlertDecoder(DirectorySchemaSource(schema_dir)).decode_batch(payloads)
    payload_ids = [""] * len(payloads)
    for index, ident in zip(decoded.alert_index, decoded.alert_id, strict=True):
        payload_ids[int(index)] = str(int(ident)) if not isinstance(ident, str) else ident
    if not all(payload_ids):
        raise SystemExit("some bench alerts do not decode; fix the generator first")
    bootstrap = local_kafka()
    model = args.model or DEFAULT_MODEL_DIR
    size_kb = float(np.mean([len(p) for p in payloads]) / 1024)
    print(f"broker {bootstrap}; plugin model {model}; cores visible {os.cpu_count()}; "
          f"LSST 11.1 realistic alerts, {args.points} points ({size_kb:.0f} KB); "
          f"{args.seconds:g} s per rate; plugin args {args.plugin_args or 'defaults'}",
          flush=True)
    results = []
    for rate in args.rates:
        row = measure(rate, args, bootstrap, schema_dir, payloads, payload_ids)
        results.append(row)
        print(f"  {rate:>5}/s: achieved {row['achieved_rate']:.0f}/s, answered "
              f"{row['answered']}/{row['sent']}, p50 {_ms(row['p50_ms'])}, p99 "
              f"{_ms(row['p99_ms'])}, max {_ms(row['max_ms'])}, lag max "
              f"{row['lag_max']}, lag slope {row['lag_slope_second_half_per_s']:+.1f}/s, "
              f"plugin {row['plugin_cpu_s_per_alert_ms']:.2f} CPU-ms/alert on "
              f"{row['plugin_cores_used']:.2f} cores, RSS "
              f"{row['plugin_peak_rss_mib']:.0f} MiB, load {row['load_average_1m']['start']:.1f}"
              f"->{row['load_average_1m']['end']:.1f}: "
              f"{'holds' if row['holds'] else 'does not hold'}", flush=True)
    held = [r["rate"] for r in results if r["holds"]]
    best = max(held) if held else None
    print(f"highest rate holding p99 <= {args.p99_budget_ms:g} ms without growing lag: "
          f"{best if best is not None else 'none of those tried'}")
    for row in results:
        lags = " ".join(str(p["lag"]) for p in row["lag_over_time"][:: max(1, int(5 / args.step))])
        print(f"  lag every 5 s at {row['rate']}/s: {lags}")
    if args.json:
        report = {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": str(model), "model_version": _model_version(model),
            "points": args.points, "alert_kb": round(size_kb, 1),
            "seconds": args.seconds, "cores_visible": os.cpu_count(),
            "p99_budget_ms": args.p99_budget_ms, "lag_growth": args.lag_growth,
            "plugin_args": args.plugin_args, "highest_rate_holding": best, "rates": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
