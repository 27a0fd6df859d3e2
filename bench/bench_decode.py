"""Decode throughput: plain fastavro decode-everything vs our projection decoder.

LSST 11.1 alerts (Confluent wire format) with 30, 300 and 1000 history points and forced
photometry at the detections' epochs, in two modes (`LsstAlertEncoder(realistic=...)`):
"friendly" (every diaSource has the same binary layout) and "realistic" (63-bit ids,
detector 0–188 per visit, varying counts and per-record null patterns, as in Rubin's stream:
varint lengths and union branches change record to record). One core (CPU seconds). Prints
alerts/s for both decoders, the ratio, and how many alerts our decoder sent to fastavro.
Needs lsst-alert-packet for the schema.

    python bench/bench_decode.py [--batch 200] [--seconds 3] [--alerts 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker_plugin.alerts import LsstAlertEncoder, load_lsst_schema, serialise
from broker_plugin.decoding import AlertDecoder
from broker_plugin.decoding.schema_sources import SchemaSource
from broker_plugin.lightcurve import LightCurve
from devtools.cpu_rate import cpu_rate


class _OneSchema:
    """Serves the 11.1 schema for id 1101 (as a registry would, from its cache)."""

    def __init__(self, schema: dict) -> None:
        self.schema = schema

    def get(self, schema_id: int | None) -> dict:
        return self.schema


def _payloads(
    schema: dict, points: int, n: int, realistic: bool, seed: int = 0
) -> list[bytes]:
    rng = np.random.default_rng(seed)
    enc = LsstAlertEncoder(schema, realistic=realistic)
    out = []
    for i in range(n):
        t = np.sort(rng.uniform(60000, 61000, points + 1))
        band = rng.choice(list("ugrizy"), points + 1)
        curves = [LightCurve(f"obj{i}", t[band == b], 18 + 0.3 * np.sin(t[band == b]),
                             np.full(int((band == b).sum()), 0.02), band=b)
                  for b in sorted(set(band))]
        out.append(serialise(schema, enc.encode(curves, forced=True), 1101))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--alerts", type=int, default=100, help="distinct alerts per size")
    args = parser.parse_args()
    schema = load_lsst_schema("11.1")
    source: SchemaSource = _OneSchema(schema)
    print(f"LSST 11.1, batches of {args.batch}, alerts/s per core (CPU time)")
    print(f"{'mode':>9} {'points':>7} {'bytes/alert':>12} {'fastavro a/s':>13} {'ours a/s':>10} "
          f"{'ratio':>7} {'fallbacks':>10}")
    for points in (30, 300, 1000):
        for mode in ("friendly", "realistic"):
            payloads = _payloads(schema, points, args.alerts, realistic=mode == "realistic")
            base = cpu_rate(AlertDecoder(source, fast=False).decode_batch, payloads, args.batch,
                            args.seconds)
            ours = AlertDecoder(source)
            fast = cpu_rate(ours.decode_batch, payloads, args.batch, args.seconds)
            fallbacks = sum(p.fallbacks for p in ours._plans.values())
            size = int(np.mean([len(p) for p in payloads]))
            print(f"{mode:>9} {points:>7} {size:>12} {base:>13.1f} {fast:>10.1f} "
                  f"{fast / base:>7.1f} {fallbacks:>10}")


if __name__ == "__main__":
    main()
