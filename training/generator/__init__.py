"""The generative side: PELS-VAE, tempered physical-parameter sampling, latent regression and
synthetic light curves (Martínez-Palomera et al. 2022; Pérez-Galarce et al. 2025).

Stable API (the self-regulated training loop relies on it; keep signatures unchanged):

* ``PelsGenerator.fit(curves, config=None, progress=True, device=None) -> PelsGenerator``
  fits the VAE, one BayesianGaussianMixture per class and the latent regressor on labelled
  `LightCurve`s whose ``params["period"]`` is known (other parameters may be missing: they
  are imputed per class with k-NN). ``device`` None means CUDA when present, else CPU.
* ``GeneratorConfig.quick(**overrides)`` / ``GeneratorConfig.preset("quick" | "default" |
  "paper", **overrides)``: named configurations; ``quick`` fits in about a minute on two CPU
  cores (a capped, small VAE with early stopping).
* ``generator.save(path)`` / ``PelsGenerator.load(path) -> PelsGenerator``: a directory with
  config.json (config, classes), vae.pt, mixtures.npz, references.npz, regressor.joblib and
  summary.json (fit metrics).
* ``generator.classes -> list[str]``: class order; synthetic labels index it.
* ``generator.sample_curves(counts, b=1.0, seed=None) -> list[LightCurve]``: unfolded
  synthetic curves observed on a same-class real star's own epochs, label and sampled
  physical parameters set, ``band`` and meta["reference"], meta["reference_band"] the real
  curve that lent epochs, magnitude range and errors.
* ``generator.synthetic_features(counts, b, n_oversampling, settings, seed=None)
  -> (x float32 (M, 2, settings.length), labels int64 (M,))`` with
  M = sum(counts) · n_oversampling, through the shared (Δt, Δm) featuriser.
* ``tempered_b(epoch, b_final, c) -> float``: b = b_f + (1 − b_f)·exp(−c·epoch); parameters
  are drawn from q ∝ p^b exactly (importance resampling), so b = 1 is the fitted p.

Same seed, same output (on the same device). ``counts`` maps class name -> how many curves.
"""

from training.generator.config import GeneratorConfig, GeneratorConfigError
from training.generator.generator import GeneratorDataError, GeneratorDirError, PelsGenerator
from training.generator.tempering import tempered_b

__all__ = [
    "GeneratorConfig",
    "GeneratorConfigError",
    "GeneratorDataError",
    "GeneratorDirError",
    "PelsGenerator",
    "tempered_b",
]
