"""Soak (issue 18, item 5): the plugin at a steady rate for a long time, sampled as it goes.

`broker-plugin run` (the shipped model, LSST 11.1 alerts in the wire format, as in
bench/faults.py) consumes a stream produced at `--rate` alerts/s for `--duration` seconds.
Every `--sample` seconds the bench records, from outside the plugin: its RSS and open file
descriptors (/proc/PID), the input topic's high watermarks and the group's committed
offsets (read by a client of its own that does not join the group), hence the consumer lag
(high watermark − committed) and the throughput (committed offsets per second). After
`--warmup` seconds (model loaded, caches and batches at their working size) it expects:

- RSS drift under `--max-rss-drift` (5 %): the mean RSS of the last tenth of the run
  against the mean of the first tenth after warm-up;
- a flat lag: its least-squares slope after warm-up, times the time after warm-up, under
  `--lag-tolerance` seconds of input (10 s), and the plugin keeping up (throughput ≥ 95 %
  of the input rate);
- no file-descriptor growth: at most `--fd-slack` (2) more open descriptors at the end
  than at the end of warm-up.

The alerts cycle through a pool of `--pool` distinct alerts (10 per object), so state kept
per object is bounded by the pool: a leak per distinct object would not show here. RSS
rises in steps with the largest batch met so far (a backlog after a pause makes one; the
allocator keeps the peak), which is why the hour's bound is judged after a 5-minute
warm-up and the 2-minute version only catches gross leaks (25 %).

    python bench/soak.py --duration 3600 --rate 500 --json soak.json --png soak.png
    python bench/soak.py --short          # the 2-minute version (tests/test_soak.py)

Without --bootstrap it starts a private broker (scripts/local-kafka) and stops it after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faults  # bench/faults.py: the plugin process, topics, the stream


class Cycle(Sequence[bytes]):
    """`total` payloads taken in turn from a pool (the stream's input without copies)."""

    def __init__(self, pool: Sequence[bytes], total: int) -> None:
        self.pool, self.total = pool, total

    def __len__(self) -> int:
        return self.total

    @overload
    def __getitem__(self, i: int) -> bytes: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[bytes]: ...

    def __getitem__(self, i: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.total))]
        if not 0 <= i < self.total:
            raise IndexError(i)
        return self.pool[i % len(self.pool)]

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self.total):
            yield self.pool[i % len(self.pool)]


class Offsets:
    """The input topic's high watermarks and the group's committed offsets (not a member)."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "enable.auto.commit": False, **faults.QUIET})
        meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
        self.partitions = [TopicPartition(topic, p) for p in sorted(meta.partitions)]

    def read(self) -> tuple[int, int]:
        """(sum of high watermarks, sum of committed offsets; 0 where none yet)."""
        high = sum(self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)[1]
                   for tp in self.partitions)
        committed = sum(max(tp.offset, 0)
                        for tp in self.consumer.committed(self.partitions, timeout=5))
        return high, committed

    def close(self) -> None:
        self.consumer.close()


def proc_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def proc_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


@dataclass
class Soak:
    """The run's samples and verdicts (the JSON)."""

    duration_s: float
    rate: float
    warmup_s: float
    sample_s: float
    pool: int
    max_rss_drift: float
    lag_tolerance_s: float
    fd_slack: int
    samples: list[dict[str, float | int | None]] = field(default_factory=list)
    produced: int = 0
    exit_codes: list[int | None] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c["pass"] for c in self.checks.values())

    def judge(self) -> None:
        """Fill `checks` from the samples after warm-up."""
        after = [s for s in self.samples if s["t"] >= self.warmup_s and s["rss_mb"] is not None]
        if len(after) < 4:
            self.checks = {"samples": {"pass": False, "after_warmup": len(after)}}
            return
        t = np.array([s["t"] for s in after], dtype=float)
        rss = np.array([s["rss_mb"] for s in after], dtype=float)
        lag = np.array([s["lag"] for s in after], dtype=float)
        fds = [int(s["fds"] or 0) for s in after]
        tenth = max(1, len(after) // 10)
        first, last = float(rss[:tenth].mean()), float(rss[-tenth:].mean())
        drift = (last - first) / first
        slope = float(np.polyfit(t, lag, 1)[0])  # messages per second
        growth_s = slope * float(t[-1] - t[0]) / self.rate  # seconds of input
        rates = [s["throughput"] for s in after if s["throughput"] is not None]
        kept_up = float(np.mean(rates)) / self.rate if rates else 0.0
        self.checks = {
            "rss_drift": {"pass": drift < self.max_rss_drift, "first_mb": round(first, 1),
                          "last_mb": round(last, 1), "drift": round(drift, 4),
                          "bound": self.max_rss_drift},
            "lag_flat": {"pass": growth_s < self.lag_tolerance_s,
                         "slope_per_s": round(slope, 3),
                         "growth_s_of_input": round(growth_s, 2),
                         "max_lag": int(lag.max()), "bound_s": self.lag_tolerance_s},
            "keeps_up": {"pass": kept_up >= 0.95, "throughput_over_rate": round(kept_up, 3)},
            "fd_growth": {"pass": fds[-1] - fds[0] <= self.fd_slack, "first": fds[0],
                          "last": fds[-1], "max": max(fds), "slack": self.fd_slack},
            "alive": {"pass": not self.exit_codes or self.exit_codes == [0],
                      "exit_codes": self.exit_codes},
        }


#: An hour at 500 alerts/s of 17.6 kB is 32 GB: the soak's topics keep only their last
#: segments (checked every 5 minutes by the broker), so the disk does not fill up.
RETENTION = {"retention.bytes": str(256 * 2**20), "segment.bytes": str(64 * 2**20)}


def soak_topics(bootstrap: str, partitions: int = 3) -> dict[str, str]:
    """Input, output and dead-letter topics with bounded retention, and a group name."""
    topics = {k: faults.unique_topic_name(f"soak-{k}") for k in ("in", "out", "dlq")}
    faults.create_topics(bootstrap, topics.values(), partitions=partitions,
                         config={"max.message.bytes": str(faults.MAX_MESSAGE_BYTES),
                                 **RETENTION})
    topics["group"] = faults.unique_topic_name("soak")
    return topics


def run_soak(bootstrap: str, work: Path, soak: Soak,
             say: Any = print) -> Soak:
    """Stream, sample, stop the plugin with SIGTERM, judge."""
    topics = soak_topics(bootstrap)
    say(f"generating a pool of {soak.pool:,} alerts")
    pool, _ = faults.good_alerts(soak.pool, seed=7)
    total = int(soak.rate * soak.duration_s)
    plugin = faults.Plugin(bootstrap, topics, log=work / "soak-plugin.log")
    plugin.start()
    if not plugin.wait_running(120):
        raise RuntimeError(f"the plugin did not start: {faults.last_line(plugin.log)}")
    offsets = Offsets(bootstrap, topics["in"], topics["group"])
    producer = faults.stream(bootstrap, topics["in"], Cycle(pool, total), soak.rate)
    started = time.monotonic()
    previous: tuple[float, int, int] | None = None
    say(f"soaking {soak.duration_s:.0f} s at {soak.rate:.0f} alerts/s")
    try:
        while time.monotonic() - started < soak.duration_s:
            time.sleep(soak.sample_s - (time.monotonic() - started) % soak.sample_s)
            if producer.error is not None:
                producer.join()  # raises
            now = time.monotonic() - started
            high, committed = offsets.read()
            pid = plugin.process.pid if plugin.alive() and plugin.process else None
            throughput = input_rate = None
            if previous is not None:
                dt = now - previous[0]
                throughput = (committed - previous[2]) / dt
                input_rate = (high - previous[1]) / dt
            previous = (now, high, committed)
            sample = {"t": round(now, 1), "rss_mb": None if pid is None else proc_rss_mb(pid),
                      "fds": None if pid is None else proc_fds(pid), "high": high,
                      "committed": committed, "lag": high - committed,
                      "throughput": throughput, "input_rate": input_rate}
            soak.samples.append(sample)
            if pid is None:
                plugin.reap()
                say(f"the plugin stopped: {faults.last_line(plugin.log)}")
                break
    finally:
        producer.join(120)
        soak.produced = offsets.read()[0]
        if plugin.alive():
            plugin.signal(signal.SIGTERM)
        soak.exit_codes = plugin.exit_codes
        offsets.close()
    soak.judge()
    return soak


def plot(soak: Soak, path: Path) -> None:
    """RSS, lag and throughput over time, warm-up shaded (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in soak.samples]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    series = (("rss_mb", "RSS [MB]"), ("lag", "consumer lag [alerts]"),
              ("throughput", "throughput [alerts/s]"))
    for ax, (key, label) in zip(axes, series, strict=True):
        values = [np.nan if s[key] is None else s[key] for s in soak.samples]
        ax.plot(t, values, lw=1.2)
        ax.axvspan(0, soak.warmup_s, color="0.9", label="warm-up")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[2].axhline(soak.rate, color="k", ls="--", lw=0.8, label="input rate")
    axes[2].legend(loc="lower right")
    axes[-1].set_xlabel("time [s]")
    verdict = ", ".join(f"{k} {'ok' if v['pass'] else 'FAIL'}" for k, v in soak.checks.items())
    fig.suptitle(f"soak: {soak.rate:.0f} alerts/s for {soak.duration_s:.0f} s ({verdict})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds")
    parser.add_argument("--rate", type=float, default=500.0, help="alerts/s")
    parser.add_argument("--warmup", type=float, default=300.0, help="seconds")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--pool", type=int, default=5000,
                        help="distinct alerts cycled (made at start: ~30 ms each here)")
    parser.add_argument("--max-rss-drift", type=float, default=0.05)
    parser.add_argument("--lag-tolerance", type=float, default=10.0,
                        help="lag growth allowed after warm-up, in seconds of input")
    parser.add_argument("--fd-slack", type=int, default=2)
    parser.add_argument("--short", action="store_true",
                        help="2 minutes at 250/s, 30 s warm-up, drift bound 25 %% (scripts/test)")
    parser.add_argument("--bootstrap", default=os.environ.get("SELFREG_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args(argv)
    if args.short:
        args.duration, args.rate, args.warmup, args.sample = 120.0, 250.0, 30.0, 3.0
        args.pool, args.max_rss_drift = 1000, 0.25
    soak = Soak(args.duration, args.rate, args.warmup, args.sample, args.pool,
                args.max_rss_drift, args.lag_tolerance, args.fd_slack)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        bootstrap = args.bootstrap or faults.start_local_kafka(work / "kafka", os.getpid())
        try:
            run_soak(bootstrap, work, soak)
        finally:
            if not args.bootstrap:
                faults.stop_local_kafka(work / "kafka")
    if args.json:
        args.json.write_text(json.dumps(asdict(soak) | {"passed": soak.passed}, indent=1)
                             + "\n")
    if args.png:
        plot(soak, args.png)
    print(json.dumps(soak.checks, indent=1))
    print("soak:", "pass" if soak.passed else "FAIL")
    return 0 if soak.passed else 1


if __name__ == "__main__":
    sys.exit(main())
