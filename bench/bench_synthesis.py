"""Synthetic light curves per second: PelsGenerator.synthetic_features for a batch of 1,000.

Fits a generator with a preset on simulated curves (or loads one with --generator), then
times the whole synthesis path (tempered parameter sampling, latent regression, decoding,
unfolding on the reference stars' epochs, noise, windows, (Δt, Δm) featuriser) on CPU, with
a stage breakdown.

    python bench/bench_synthesis.py [--batch 1000] [--b 0.5] [--oversampling 1] [--threads 1]
        [--cadence ogle|lsst|sparse] [--preset quick|default|paper] [--fit-per-class 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from broker_plugin.features import FeatureSettings
from training.generator import GeneratorConfig, PelsGenerator
from training.generator.synthesis import unfold


def _fit(n_per_class: int, cadence: str, preset: str) -> PelsGenerator:
    from training.simulator import simulate_curves

    curves = simulate_curves(n_per_class, cadence=cadence, seed=0)
    started = time.perf_counter()
    generator = PelsGenerator.fit(curves, GeneratorConfig.preset(preset), progress=False,
                                  device="cpu")
    print(f"fitted preset {preset!r} on {len(curves)} {cadence} curves in "
          f"{time.perf_counter() - started:.1f} s")
    return generator


def _best(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--b", type=float, default=0.5)
    parser.add_argument("--oversampling", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--generator", default=None, help="Saved generator dir (else fit one).")
    parser.add_argument("--fit-per-class", type=int, default=60)
    parser.add_argument("--cadence", default="ogle", choices=("ogle", "lsst", "sparse"))
    parser.add_argument("--preset", default="quick", choices=("quick", "default", "paper"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    generator = (
        PelsGenerator.load(args.generator, device="cpu") if args.generator
        else _fit(args.fit_per_class, args.cadence, args.preset)
    )
    generator.device = "cpu"
    generator.vae.to("cpu")
    per_class = args.batch // len(generator.classes)
    counts = {c: per_class for c in generator.classes}
    n = per_class * len(generator.classes)
    settings = FeatureSettings()

    whole = _best(
        lambda: generator.synthetic_features(counts, args.b, args.oversampling, settings, seed=0),
        args.repeats,
    )
    rng = np.random.default_rng(0)
    index, params = generator.sample_parameters(counts, args.b, rng)
    stages = {
        "tempered parameter sampling": _best(
            lambda: generator.sample_parameters(counts, args.b, np.random.default_rng(0)),
            args.repeats,
        ),
        "regressor (params -> z)": _best(
            lambda: generator.regressor.predict(
                np.hstack([params, np.eye(len(generator.classes))[index]])
            ),
            args.repeats,
        ),
    }
    latent = generator.regressor.predict(np.hstack([params, np.eye(len(generator.classes))[index]]))
    stages["decoder"] = _best(lambda: generator.decode_latent(index, latent), args.repeats)
    grid = generator.decode_latent(index, latent)
    reference = generator.references.nearest(index, params[:, 0])
    stages["unfold + noise"] = _best(
        lambda: unfold(grid, 10 ** params[:, 0], reference, generator.references,
                       np.random.default_rng(0), generator.config.max_points,
                       generator.config.cadence_window, generator.config.min_window_points),
        args.repeats,
    )
    print(f"synthetic curves: {n}, b = {args.b}, windows per curve: {args.oversampling}, "
          f"torch threads: {args.threads}, classes: {generator.classes}")
    print(f"whole synthetic_features: {whole:.3f} s -> {n / whole:,.0f} curves/s "
          f"({n * args.oversampling / whole:,.0f} (Δt, Δm) sequences/s)")
    for name, seconds in stages.items():
        print(f"  {name:<30s} {seconds:.3f} s")


if __name__ == "__main__":
    main()
