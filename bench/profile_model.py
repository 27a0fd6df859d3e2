"""Where a model's inference time goes, part by part of its graph (issue 20: what bounds it).

onnxruntime's own profiler, one thread as serving runs it, over `--repeats` runs of one
batch of realistic sequences (simulated LSST-like stars featurised with the card's settings,
as `bench_ort_settings.py` builds them). Each node's kernel time is charged to the part of
the model it belongs to, read from the node name torch's exporter gives it: the input
scaling, the in-graph summary statistics (`summary`), the convolution blocks (`features`),
the fully connected head, and the calibrated tail (`tail/…`). Shares, not seconds, so a busy
machine moves them little.

    python bench/profile_model.py [--model broker_plugin/_model] [--batch 512]
        [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_ort_settings import realistic_inputs  # noqa: E402

from broker_plugin.model_card import load_model_dir  # noqa: E402

#: Graph parts, tried in order against each node name; the first match wins.
PARTS = (("tail", re.compile(r"^tail/")), ("summary statistics", re.compile(r"/summary/")),
         ("summary layer", re.compile(r"/summary_(net|scaling)")),
         ("convolution blocks", re.compile(r"/features/")),
         ("head", re.compile(r"/head")), ("input scaling", re.compile(r"/scaling/")))


def part_of(node: str) -> str:
    return next((name for name, pattern in PARTS if pattern.search(node)), "other")


def profile(model_dir: Path, batch: int, repeats: int) -> dict[str, object]:
    import onnxruntime as ort

    _, card = load_model_dir(model_dir)
    x = realistic_inputs(card.features, batch)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(model_dir / "model.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        session.run(None, {name: x[:8]})  # warm-up, charged like the rest (it is tiny)
        for _ in range(repeats):
            session.run(None, {name: x})
        events = json.loads(Path(session.end_profiling()).read_text())
    parts: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    for event in events:
        label = event.get("name", "")
        if event.get("cat") != "Node" or not label.endswith("_kernel_time"):
            continue
        part = part_of(label.removesuffix("_kernel_time"))
        parts[part] += event["dur"]
        if part == "summary statistics":
            ops[event.get("args", {}).get("op_name", "?")] += event["dur"]
    total = sum(parts.values()) or 1
    return {"model": str(model_dir), "version": card.version, "batch": batch,
            "repeats": repeats,
            "share_by_part": {k: round(v / total, 4) for k, v in parts.most_common()},
            "summary_share_by_op": {k: round(v / total, 4) for k, v in ops.most_common(8)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "broker_plugin" / "_model")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = profile(args.model, args.batch, args.repeats)
    for part, share in result["share_by_part"].items():  # type: ignore[union-attr]
        print(f"{part:22s} {share:6.1%}")
    print("summary statistics, by operator:",
          ", ".join(f"{k} {v:.1%}" for k, v in result["summary_share_by_op"].items()))  # type: ignore[union-attr]
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
