"""Seconds per epoch with and without the self-regulated loop, at the same data size.

    python bench/bench_training.py --n-per-class 500 --epochs 3 [--generator GENDIR]
        [--synthetic-per-batch 500] [--augment-copies 3] [--device cpu|cuda]

Simulates `n-per-class` OGLE-like curves per class (training.simulator), fits a PELS-VAE on
the training split with the generator's quick preset (or loads GENDIR), attaches
`augment-copies` survey-augmented views per training curve (as `training train` does), then
trains the same CNN for `epochs` epochs in
one-loss and in two-losses mode (a new synthetic batch EVERY epoch: E = 1, the worst case)
and prints seconds per epoch, their ratio, and the cost of one synthetic batch
(generation + featurisation). Not a unit test: never run under pytest.

    python bench/bench_training.py --real-sets RUN [--max-per-set 400]

instead scores an exported RUN on the shared real sets: it runs bench/cross_survey.py
(the project's importers, `training evaluate`'s code), which is the place for that now.
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
    parser.add_argument("--augment-copies", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-sets", default=None, metavar="RUN")
    parser.add_argument("--max-per-set", type=int, default=400)
    args = parser.parse_args()
    if args.real_sets:
        import subprocess
        import sys
        from pathlib import Path

        script = Path(__file__).resolve().parent / "cross_survey.py"
        sys.exit(subprocess.call([sys.executable, str(script), args.real_sets,
                                  "--max-per-class", str(args.max_per_set),
                                  "--seed", str(args.seed)]))

    import torch

    from broker_plugin.features import FeatureSettings
    from training.classifier.augment import attach_views
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
                            augment_copies=args.augment_copies,
                            device=args.device, seed=args.seed)
    train, val = prepare_data(curves, config, settings)
    attach_views(train, [curves[i] for i in train.source_index], config, settings, args.seed)
    started = time.perf_counter()
    if args.generator:
        generator = PelsGenerator.load(args.generator)
    else:
        train_curves = [curves[i] for i in train.source_index]
        from training.generator.config import GeneratorConfig

        generator = PelsGenerator.fit(train_curves, config=GeneratorConfig.quick(seed=args.seed),
                                      progress=True)
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
          f"{len(train)} training / {len(val)} validation curves, batch {config.batch_size}, "
          f"{args.augment_copies} augmented views per training curve")
    print(f"one synthetic batch of {len(x)} curves: {batch_seconds:.2f} s "
          "(generation + featurisation)")
    for mode, seconds in rows.items():
        print(f"{mode:>10}: {seconds:.2f} s/epoch (median of {args.epochs})")
    print(f"ratio two-losses / one-loss: {rows['two-losses'] / rows['one-loss']:.2f} "
          f"(new synthetic batch every epoch, {args.repetitions} synthetic pass(es))")


if __name__ == "__main__":
    main()
