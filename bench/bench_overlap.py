"""The overlapped pipeline against the batch in one piece, in one process, same alerts.

    python bench/bench_overlap.py [--points 300] [--batch 500] [--repeats 5]
        [--chunks 0,128,64] [--rounds 2] [--model DIR] [--json FILE]

`AlertPipeline.process` on one batch of realistic LSST 11.1 alerts (as bench_serving makes
them), for each `--overlap-chunk` value in turn (0 is the baseline: decode, then inference,
on one thread), `--rounds` times interleaved so a busy machine hurts every setting alike:
alerts per second of wall time and per CPU-second, and the cores used (CPU / wall). No Kafka:
this isolates what the overlap changes; `bench/bench_latency.py` measures it end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.serving_data import periodic_curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5, help="batches per measurement")
    parser.add_argument("--chunks", default="0,128,64")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import lsst.alert.packet as packet

    from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource
    from broker_plugin.default_model import DEFAULT_MODEL_DIR
    from broker_plugin.serving.classifier import Classifier
    from broker_plugin.serving.pipeline import AlertPipeline
    from broker_plugin.serving.produce import iter_alerts

    schema_dir = Path(packet.__file__).parent / "schema"
    curves = periodic_curves(25, points=args.points + 1, seed=args.points)
    distinct = [p for _, p in iter_alerts(curves, "lsst", "11.1", 1, schema_dir,
                                          realistic=True)]
    batch = [distinct[i % len(distinct)] for i in range(args.batch)]
    classifier = Classifier(args.model or DEFAULT_MODEL_DIR, threads=1)
    source = DirectorySchemaSource(schema_dir)
    chunks = [int(c) for c in args.chunks.split(",")]
    rows: dict[int, list[dict[str, float]]] = {c: [] for c in chunks}
    load_start = os.getloadavg()
    for _ in range(args.rounds):
        for chunk in chunks:
            pipeline = AlertPipeline(AlertDecoder(source), classifier, overlap_chunk=chunk)
            pipeline.process(batch)  # warm: layouts cached, worker thread started
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.repeats):
                pipeline.process(batch)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            n = args.repeats * args.batch
            rows[chunk].append({"alerts_per_s": n / wall, "per_cpu_s": n / cpu,
                                "cores": cpu / wall})
    base = max(r["alerts_per_s"] for r in rows[0]) if 0 in rows else None
    print(f"{args.batch} realistic LSST 11.1 alerts of {args.points} points a batch, "
          f"{args.repeats} batches a measurement, best of {args.rounds}; "
          f"load {load_start[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    summary = {}
    for chunk, runs in rows.items():
        best = max(runs, key=lambda r: r["alerts_per_s"])
        ratio = best["alerts_per_s"] / base if base else None
        summary[str(chunk)] = {**best, "ratio_to_one_piece": ratio}
        label = "one piece" if chunk == 0 else f"chunk {chunk}"
        print(f"  {label:>10}: {best['alerts_per_s']:7.0f} alerts/s wall "
              f"({best['per_cpu_s']:5.0f} per CPU-s, {best['cores']:.2f} cores)"
              + (f", {ratio:.2f}x one piece" if ratio else ""))
    if args.json:
        args.json.write_text(json.dumps({"points": args.points, "batch": args.batch,
                                         "load": [load_start[0], os.getloadavg()[0]],
                                         "results": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
