"""What the calibrated tail costs at inference: the network alone vs network + tail.

The tail (training/classifier/graph_tail.py: temperature scaling and the deep-kNN unknown
score against a bank of training embeddings) is stripped from a model's graph for the
baseline, so both runs use the same weights, in the same process, on one thread. Prints
sequences/s of each (best of --repeats runs over one batch) and their ratio.

    python bench/bench_tail.py [--model broker_plugin/_model] [--batch 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.model_card import OUTPUT_NAME, UNKNOWN_OUTPUT_NAME  # noqa: E402


def sequences_per_second(model: object, outputs: list[str], x: np.ndarray, repeats: int
                         ) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,  # type: ignore
                                   providers=["CPUExecutionProvider"])
    session.run(outputs, {"x": x[:64]})
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(outputs, {"x": x})
        best = max(best, len(x) / (time.perf_counter() - start))
    return best


def main() -> None:
    import onnx

    from training.classifier import graph_tail

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "broker_plugin" / "_model")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tailed = onnx.load(str(args.model / "model.onnx"))
    bare = graph_tail.strip_tail(tailed)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, 2, 300)).astype(np.float32)
    x[:, 0] = np.abs(x[:, 0])
    network = sequences_per_second(bare, [OUTPUT_NAME], x, args.repeats)
    with_tail = sequences_per_second(tailed, [OUTPUT_NAME, UNKNOWN_OUTPUT_NAME], x,
                                     args.repeats)
    print(f"{args.model}: network only {network:,.0f} sequences/s, with the calibrated tail "
          f"{with_tail:,.0f} sequences/s (one thread, batch {args.batch}); ratio "
          f"{with_tail / network:.2f}")


if __name__ == "__main__":
    main()
