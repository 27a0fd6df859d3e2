"""What skipping the padding buys: the serving runner (rows sorted by length, runs of
`--rows` at a time, a graph that cuts each run after its longest row) against a graph of the
same network that computes all 300 steps of every row (issue 20, item 1).

    python bench/bench_padding.py --before OLD.onnx [--model broker_plugin/_model]
        [--rows 32,64,128,256,1024] [--n 1536] [--repeats 7] [--json FILE]

`--before` is a graph of the same architecture exported before the shortcut (for the
shipped model: its `model.onnx` from the previous release; a rebuild does not reproduce its
weights exactly, so `max_abs_dp` compares answers only when the weights are the same), run
as serving ran it then: 1,024 rows a call, input order. Rows: simulated LSST-like stars at the
built-in `lsst` cadence, one band each, as serving featurises them (median about 60 pairs,
the most about 200; a 300-point six-band alert gives its bands about 50 each). Every setting in turn
within each repeat, best time each; the answers of the two graphs are compared row by row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_ort_settings import realistic_inputs  # noqa: E402

from broker_plugin.model_card import load_model_dir  # noqa: E402
from broker_plugin.serving.classifier import Classifier, data_lengths  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the graph before (ONNX)")
    parser.add_argument("--model", type=Path, default=ROOT / "broker_plugin" / "_model")
    parser.add_argument("--rows", default="32,64,128,256,1024")
    parser.add_argument("--n", type=int, default=1536)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    _, card = load_model_dir(args.model)
    x = realistic_inputs(card.features, args.n)
    x = x[np.random.default_rng(0).permutation(len(x))]
    after = Classifier(args.model)
    before = Classifier.from_graph(args.before)
    before.unknown_threshold = after.unknown_threshold  # both graphs give both outputs

    settings = {"before: every step, 1,024 rows a call": lambda: [
        before.predict_scored(x[i:i + 1024], chunk=1024) for i in range(0, len(x), 1024)]}
    for rows in (int(r) for r in args.rows.split(",")):
        settings[f"after: sorted runs of {rows}"] = (
            lambda rows=rows: after.predict_scored(x, chunk=rows))
    best = dict.fromkeys(settings, np.inf)
    for _ in range(args.repeats):
        for name, run in settings.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    base = best["before: every step, 1,024 rows a call"]
    p_before, s_before = before.predict_scored(x, chunk=len(x))
    p_after, s_after = after.predict_scored(x)
    lengths = data_lengths(x)
    result = {
        "model": card.version, "before": str(args.before), "rows": len(x),
        "lengths_p50_max": [int(np.median(lengths)), int(lengths.max())],
        "max_abs_dp": float(np.max(np.abs(p_after - p_before))),
        "max_abs_d_unknown": (float(np.max(np.abs(s_after - s_before)))
                              if s_after is not None and s_before is not None else None),
        "settings": [{"setting": name, "sequences_per_s": len(x) / t, "ratio": base / t}
                     for name, t in best.items()],
    }
    for row in result["settings"]:  # type: ignore[union-attr]
        print(f"{row['setting']:<40} {row['sequences_per_s']:>9,.0f} seq/s  "
              f"{row['ratio']:5.2f}x")
    print(f"rows {len(x)}, pairs per row median {result['lengths_p50_max'][0]}, max "  # type: ignore[index]
          f"{result['lengths_p50_max'][1]}; after vs before max |dp| "  # type: ignore[index]
          f"{result['max_abs_dp']:.1e}, unknown score {result['max_abs_d_unknown']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
