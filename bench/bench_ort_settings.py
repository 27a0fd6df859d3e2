"""onnxruntime settings for the shipped model, measured (issue 20 item 1): graph optimisation
level, threads, IO binding, and int8 dynamic quantisation with its parity.

Every setting runs the same batch of realistic sequences (simulated LSST-like stars
featurised with the model card's settings) in one process; the settings take turns within
each repeat, so machine noise hits them alike, and each keeps its best time. Figures are
sequences/s and the ratio to serving's own session (`broker_plugin.serving.classifier`: all
graph optimisations, which is onnxruntime's default, one intra-op thread, `session.run`).

    python bench/bench_ort_settings.py [--model broker_plugin/_model] [--batch 64,512]
        [--repeats 7] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.model_card import OUTPUT_NAME, load_model_dir  # noqa: E402


def realistic_inputs(settings, n: int, seed: int = 0) -> np.ndarray:
    """(n, 2, L) sequences of simulated LSST-like stars, every class, one band each."""
    from broker_plugin.features import featurise_batch
    from training.simulator.simulate import simulate_curves

    curves = simulate_curves(max(n // 20, 4), "lsst", seed=seed)
    x = featurise_batch(curves, settings).x
    return np.resize(x, (n, *x.shape[1:]))


def session(path: Path, level: str = "all", threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def plain_runner(sess, outputs: list[str]) -> Callable[[np.ndarray], list[np.ndarray]]:
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(outputs, {name: x})


def bound_runner(sess, outputs: list[str]) -> Callable[[np.ndarray], list[np.ndarray]]:
    """IO binding: the input bound in place (no copy into onnxruntime), outputs on CPU."""
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> list[np.ndarray]:
        binding = sess.io_binding()
        binding.bind_cpu_input(name, np.ascontiguousarray(x))
        for output in outputs:
            binding.bind_output(output, "cpu")
        sess.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    return run


def quantised_copy(path: Path, out_dir: Path) -> Path:
    """int8 dynamic quantisation of the convolutions and matrix products (weights int8,
    activations quantised per batch at run time); the summary statistics and the tree tail
    stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = out_dir / "model.int8.onnx"
    quantize_dynamic(str(path), str(target), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["Conv", "MatMul", "Gemm"])
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "broker_plugin" / "_model")
    parser.add_argument("--batch", default="64,512")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    onnx_path, card = load_model_dir(args.model)
    outputs = [o.name for o in session(onnx_path).get_outputs()]
    with tempfile.TemporaryDirectory() as tmp:
        int8 = quantised_copy(onnx_path, Path(tmp))
        runners = {
            "serving (all optimisations, 1 thread, run)": plain_runner(session(onnx_path),
                                                                       outputs),
            "optimisations: extended": plain_runner(session(onnx_path, "extended"), outputs),
            "optimisations: basic": plain_runner(session(onnx_path, "basic"), outputs),
            "optimisations: disabled": plain_runner(session(onnx_path, "disable"), outputs),
            "2 intra-op threads": plain_runner(session(onnx_path, threads=2), outputs),
            "IO binding": bound_runner(session(onnx_path), outputs),
            "int8 dynamic quantisation": plain_runner(session(int8), outputs),
        }
        rows = []
        for batch in (int(b) for b in args.batch.split(",")):
            x = realistic_inputs(card.features, batch)
            reference = runners["serving (all optimisations, 1 thread, run)"](x)
            best = dict.fromkeys(runners, np.inf)
            for _ in range(args.repeats):
                for name, run in runners.items():
                    start = time.perf_counter()
                    run(x)
                    best[name] = min(best[name], time.perf_counter() - start)
            base = batch / best["serving (all optimisations, 1 thread, run)"]
            for name, run in runners.items():
                probabilities = run(x)[outputs.index(OUTPUT_NAME)]
                top = reference[outputs.index(OUTPUT_NAME)]
                rows.append({
                    "batch": batch, "setting": name, "sequences_per_s": batch / best[name],
                    "ratio": batch / best[name] / base,
                    "max_abs_dp": float(np.max(np.abs(probabilities - top))),
                    "top_class_changed": float(np.mean(probabilities.argmax(1)
                                                       != top.argmax(1)))})
    for r in rows:
        print(f"batch {r['batch']:>4}  {r['setting']:<44} {r['sequences_per_s']:>8,.0f} seq/s  "
              f"{r['ratio']:5.2f}x  max|dp| {r['max_abs_dp']:.1e}  top class changed "
              f"{r['top_class_changed']:.1%}")
    if args.json:
        args.json.write_text(json.dumps({"model": card.version, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
