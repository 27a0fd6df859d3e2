"""Seconds per epoch with and without the self-regulated loop, at the same data size.

    python bench/bench_training.py --n-per-class 500 --epochs 3 [--generator GENDIR]
        [--synthetic-per-batch 500] [--device cpu|cuda]

Simulates `n-per-class` OGLE-like curves per class (training.simulator), fits a PELS-VAE on
the training split (or loads GENDIR), then trains the same CNN for `epochs` epochs in
one-loss and in two-losses mode (a new synthetic batch EVERY epoch: E = 1, the worst case)
and prints seconds per epoch, their ratio, and the cost of one synthetic batch
(generation + featurisation). Not a unit test: never run under pytest.

    python bench/bench_training.py --real-sets RUN [--max-per-set 400]

instead scores an exported RUN (onnxruntime, `training evaluate`'s code) on the shared real
sets (../shared/data): OGLE-III LMC Cepheids (I), SDSS Stripe 82 RR Lyrae (g, r, i) and
EROS-1 LMC (R_E; RRLYR, CEP, ECL, LPV), read with bench/realism_check.py's readers until
`training import` lands.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--generator", default=None)
    parser.add_argument("--synthetic-per-batch", type=int, default=500)
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-sets", default=None, metavar="RUN")
    parser.add_argument("--max-per-set", type=int, default=400)
    args = parser.parse_args()
    if args.real_sets:
        real_sets(args.real_sets, args.max_per_set, args.seed)
        return

    import torch

    from broker_plugin.features import FeatureSettings
    from training.classifier.data import GeneratorSource
    from training.classifier.run import prepare_data
    from training.classifier.trainer import train_classifier
    from training.config import TrainingConfig
    from training.generator import PelsGenerator
    from training.simulator import simulate_curves

    settings = FeatureSettings()
    started = time.perf_counter()
    curves = simulate_curves(args.n_per_class, cadence="ogle", seed=args.seed)
    print(f"simulated {len(curves)} curves in {time.perf_counter() - started:.1f} s")
    config = TrainingConfig(epochs=args.epochs, patience=args.epochs + 1,
                            synthetic_every=1, synthetic_per_batch=args.synthetic_per_batch,
                            repetitions=args.repetitions, n_oversampling=1,
                            device=args.device, seed=args.seed)
    train, val = prepare_data(curves, config, settings)
    started = time.perf_counter()
    if args.generator:
        generator = PelsGenerator.load(args.generator)
    else:
        train_curves = [curves[i] for i in train.source_index]
        generator = PelsGenerator.fit(train_curves, progress=True)
    print(f"generator ready in {time.perf_counter() - started:.1f} s")
    source = GeneratorSource(generator, train.classes, settings, config.n_oversampling)

    counts = {c: args.synthetic_per_batch // len(train.classes) for c in train.classes}
    t0 = time.perf_counter()
    x, _ = source(counts, 0.8, 0)
    batch_seconds = time.perf_counter() - t0

    rows = {}
    for mode in ("one-loss", "two-losses"):
        result = train_classifier(train, val, replace(config, mode=mode),
                                  source=source if mode == "two-losses" else None,
                                  progress=False)
        per_epoch = [h["seconds"] for h in result.history]
        rows[mode] = float(np.median(per_epoch))
    device = "cuda" if (args.device == "auto" and torch.cuda.is_available()) else (
        "cpu" if args.device == "auto" else args.device)
    print(f"\ndevice {device}, torch threads {torch.get_num_threads()}, "
          f"{len(train)} training / {len(val)} validation curves, batch {config.batch_size}")
    print(f"one synthetic batch of {len(x)} curves: {batch_seconds:.2f} s "
          "(generation + featurisation)")
    for mode, seconds in rows.items():
        print(f"{mode:>10}: {seconds:.2f} s/epoch (median of {args.epochs})")
    print(f"ratio two-losses / one-loss: {rows['two-losses'] / rows['one-loss']:.2f} "
          f"(new synthetic batch every epoch, {args.repetitions} synthetic pass(es))")


def real_sets(run: str, limit: int, seed: int) -> None:
    """Macro F1 / ROC-AUC / recall of RUN on each shared real set (see module docstring)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from realism_check import read_eros, read_ogle_cepheids, read_sdss_rrlyrae

    from training.classifier.evaluate import evaluate_curves

    rng = np.random.default_rng(seed)
    sets = {
        "OGLE-III LMC CEP (I)": lambda: read_ogle_cepheids(limit, rng),
        "SDSS S82 RRLYR (g)": lambda: read_sdss_rrlyrae("g")[:limit],
        "SDSS S82 RRLYR (r)": lambda: read_sdss_rrlyrae("r")[:limit],
        "SDSS S82 RRLYR (i)": lambda: read_sdss_rrlyrae("i")[:limit],
        "EROS-1 LMC (R_E)": lambda: read_eros(limit // 4, rng),
    }
    print(f"model {run}")
    print(f"{'set':<22} {'n':>5} {'macroF1':>8} {'acc':>6} {'ROC-OVO':>8} {'ROC-OVR':>8} "
          f"{'ECE':>6}  recall per class present")
    for name, read in sets.items():
        curves = read()
        r = evaluate_curves(run, curves)
        present = {c: v for c, v in r["per_class_recall"].items() if v is not None}
        ovo = "null" if r["roc_auc_ovo"] is None else f"{r['roc_auc_ovo']:.3f}"
        ovr = "null" if r["roc_auc_ovr"] is None else f"{r['roc_auc_ovr']:.3f}"
        print(f"{name:<22} {r['n_curves']:>5} {r['macro_f1']:>8.3f} {r['accuracy']:>6.3f} "
              f"{ovo:>8} {ovr:>8} {r['ece']:>6.3f}  "
              + " ".join(f"{c}={v:.2f}" for c, v in present.items())
              + (f"  left out: {r['left_out']}" if r["left_out"] else ""))
        predicted = np.array(r["confusion_matrix"]).sum(axis=0)
        print(f"{'':<22} predicted mix: "
              + " ".join(f"{c}={n}" for c, n in zip(r["classes"], predicted, strict=True)))


if __name__ == "__main__":
    main()
