"""The in-graph summary statistics under onnxruntime: scatter-add binning vs per-step masks.

The structure function bins every pair (i, i + k) by its time lag. The first version built
an (N, L, bins) one-hot mask per step k; the current one (training/classifier/summary.py)
counts each pair's bin edge by edge and sums with one scatter-add. The baseline below is
the first version, kept here only to measure against. Both graphs are exported from the
same module with only `structure_function` swapped, run on one thread over the same
featurised simulated curves, at several batch sizes (best of --repeats).

    python bench/bench_summary.py [--curves 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.classifier import summary  # noqa: E402


class PerStepMasks(summary.SequenceSummary):
    """The first formulation: a one-hot (N, L, bins) mask per pair step."""

    def structure_function(self, time: torch.Tensor, mag: torch.Tensor, valid: torch.Tensor,
                           var: torch.Tensor) -> torch.Tensor:
        edges = torch.tensor(summary.LAG_EDGES, dtype=mag.dtype)
        n_bins = edges.numel() - 1
        sums = torch.zeros(time.shape[0], n_bins, dtype=mag.dtype)
        counts = torch.zeros_like(sums)
        for step in summary.PAIR_STEPS:
            if step >= time.shape[1]:
                break
            lag = (time[:, step:] - time[:, :-step]).to(mag.dtype)
            both = valid[:, step:] & valid[:, :-step]
            square = (mag[:, step:] - mag[:, :-step]) ** 2
            bins = (lag.unsqueeze(-1) >= edges[1:-1]).sum(dim=-1)
            weight = ((bins.unsqueeze(-1) == torch.arange(n_bins)) & both.unsqueeze(-1)).to(
                mag.dtype)
            sums = sums + (weight * square.unsqueeze(-1)).sum(dim=1)
            counts = counts + weight.sum(dim=1)
        value = sums / torch.clamp(counts, min=1.0) / (2 * var + 1e-6)
        return torch.where(counts > 0, value, torch.full_like(value, summary.EMPTY_BIN))


def exported(module: torch.nn.Module, length: int) -> bytes:
    buffer = io.BytesIO()
    torch.onnx.export(module.eval(), (torch.zeros(4, 2, length),), buffer, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}}, opset_version=17,
                      dynamo=False)
    return buffer.getvalue()


def rate(graph: bytes, x: np.ndarray, batch: int, repeats: int) -> tuple[float, np.ndarray]:
    import time

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    out = np.concatenate([session.run(None, {"x": x[i:i + batch]})[0]
                          for i in range(0, len(x), batch)])
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            session.run(None, {"x": x[i:i + batch]})
        best = max(best, len(x) / (time.perf_counter() - start))
    return best, out


def main() -> None:
    import warnings

    from broker_plugin.features import FeatureSettings, featurise_batch
    from training.simulator.simulate import simulate_curves

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    curves = simulate_curves(max(args.curves // 5, 1), cadence="ogle", seed=1)
    x = featurise_batch(curves, FeatureSettings()).x[:args.curves]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = exported(PerStepMasks(), x.shape[2])
        current = exported(summary.SequenceSummary(), x.shape[2])
    print(f"{len(x)} sequences of {x.shape[2]} steps, one thread, sequences/s")
    for batch in (64, 128, 256, 1024):
        old, old_out = rate(baseline, x, batch, args.repeats)
        new, new_out = rate(current, x, batch, args.repeats)
        print(f"batch {batch:5d}: per-step masks {old:7.0f}  scatter-add {new:7.0f}  "
              f"ratio {new / old:.2f}  max |diff| {np.abs(new_out - old_out).max():.1e}")


if __name__ == "__main__":
    main()
