"""Decode throughput on real LSSTCam alerts: our decoder vs fastavro decode-everything.

The 34 real alerts of ../shared/data/lsst_alerts_real (schema 10.0, real ids, null
patterns and field layout; 5 with 303–391 previous detections and 340–777 forced
measurements, the rest with almost no history), as they are and carried over to 11.1
(`broker_plugin.alerts.convert`), repeated to fill batches. One core (CPU seconds), both
decoders in the same run. Prints alerts/s, MB/s, the ratio and how many alerts our decoder
handed to fastavro (fallbacks), for all 34 and for the 5 long-history alerts alone.

    python bench/bench_real_lsst.py [--data ../shared/data] [--seconds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import fastavro

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.alerts import load_lsst_schema, serialise  # noqa: E402
from broker_plugin.alerts.convert import RecordConverter  # noqa: E402
from broker_plugin.decoding import AlertDecoder, DirectorySchemaSource  # noqa: E402
from devtools.cpu_rate import cpu_rate  # noqa: E402

FOLDERS = ("lsst_alerts_real/wire_v10_0_fink_client", "lsst_alerts_real/wire_v10_0_fink_filters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import lsst.alert.packet as packet

    schema_root = Path(packet.__file__).parent / "schema"
    real = [p.read_bytes() for folder in FOLDERS
            for p in sorted((args.data / folder).glob("*.avro"))]
    if not real:
        sys.exit(f"error: no real LSST alerts under {args.data}/{FOLDERS[0]}")
    v10 = load_lsst_schema("10.0", schema_root)
    v11 = load_lsst_schema("11.1", schema_root)
    convert = RecordConverter(v11)
    records = [fastavro.schemaless_reader(io.BytesIO(p[5:]), v10, None) for p in real]
    as_11 = [serialise(v11, convert(r), 1101) for r in records]
    long_history = [i for i, r in enumerate(records) if len(r.get("prvDiaSources") or []) > 100]
    source = DirectorySchemaSource(schema_root)
    schemas = {1000: v10, 1101: v11}

    def fastavro_all(chunk: list[bytes]) -> None:
        for payload in chunk:
            sid = int.from_bytes(payload[1:5], "big")
            fastavro.schemaless_reader(io.BytesIO(payload[5:]), schemas[sid], None)

    rows = []
    for version, payloads in (("10.0", real), ("11.1", as_11)):
        for subset, index in (("all 34", range(len(payloads))), ("5 long", long_history)):
            chosen = [payloads[i] for i in index]
            filled = (chosen * (1 + 2 * args.batch // len(chosen)))[: 2 * args.batch]
            base = cpu_rate(fastavro_all, filled, args.batch, args.seconds)
            ours_decoder = AlertDecoder(source)
            ours = cpu_rate(ours_decoder.decode_batch, filled, args.batch, args.seconds)
            size = sum(map(len, filled)) / len(filled)
            rows.append({"schema": version, "alerts": subset, "bytes_per_alert": round(size),
                         "fastavro_alerts_per_s": round(base, 1),
                         "ours_alerts_per_s": round(ours, 1), "ratio": round(ours / base, 2),
                         "ours_mb_per_s": round(ours * size / 1e6, 1),
                         "fallbacks": sum(p.fallbacks for p in ours_decoder._plans.values())})
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows},
                                        indent=1) + "\n")


if __name__ == "__main__":
    main()
