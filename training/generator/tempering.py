"""Per-class physical-parameter mixtures and exact tempered sampling from q ∝ p^b.

The authors' code drew from p^(1+b); we draw from p^b as the paper states: importance
resampling of a large pool drawn from p, with weights p^(b-1) (sampling-importance-
resampling, exact as the pool grows). b < 1 flattens p (more spread, rarer parameter
combinations), b = 1 is p itself, b > 1 sharpens it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from training.generator.physical import class_prior_mean, n_subclasses


def tempered_b(epoch: int, b_final: float, c: float) -> float:
    """The tempering schedule b = b_f + (1 - b_f)·exp(-c·epoch): starts at p, ends at p^b_f."""
    return float(b_final + (1.0 - b_final) * math.exp(-c * epoch))


@dataclass(frozen=True)
class GaussianMixture:
    """A fitted mixture (weights (K,), means (K, D), covariances (K, D, D)) we can sample and
    score with our own seeded generator, independent of scikit-learn's random state."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws from p, vectorised: pick components, then one Cholesky transform each."""
        component = rng.choice(self.weights.size, size=n, p=self.weights)
        chol = np.linalg.cholesky(self.covariances)
        out = rng.standard_normal((n, self.dim))
        for k in range(self.weights.size):  # a few components; vectorised over draws
            rows = component == k
            out[rows] = self.means[k] + out[rows] @ chol[k].T
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log p(x) for (N, D) points (log-sum-exp over components)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        chol = np.linalg.cholesky(self.covariances)  # (K, D, D)
        inverse = np.linalg.inv(chol)  # (K, D, D), tiny: D = 6
        maha = np.empty((x.shape[0], self.weights.size))
        for k in range(self.weights.size):  # a few components; vectorised over points
            solved = (x - self.means[k]) @ inverse[k].T  # (N, D)
            maha[:, k] = np.einsum("nd,nd->n", solved, solved)
        log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        log_comp = (
            np.log(self.weights)[None] - 0.5 * (maha + log_det[None] + self.dim * np.log(2 * np.pi))
        )
        top = log_comp.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(log_comp - top).sum(axis=1, keepdims=True)))[:, 0]

    def sample_tempered(
        self, n: int, b: float, rng: np.random.Generator, pool_size: int = 20_000
    ) -> np.ndarray:
        """n draws from q ∝ p^b by importance resampling a pool from p with weights p^(b-1)."""
        if not b > 0:
            raise ValueError(f"tempering exponent b must be positive, got {b}")
        if n == 0:
            return np.empty((0, self.dim))
        if b == 1.0:
            return self.sample(n, rng)
        pool = self.sample(max(pool_size, 20 * n), rng)
        log_w = (b - 1.0) * self.log_pdf(pool)
        w = np.exp(log_w - log_w.max())
        return pool[rng.choice(pool.shape[0], size=n, replace=True, p=w / w.sum())]

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}weights": self.weights,
            f"{prefix}means": self.means,
            f"{prefix}covariances": self.covariances,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> GaussianMixture:
        return cls(
            np.asarray(arrays[f"{prefix}weights"]),
            np.asarray(arrays[f"{prefix}means"]),
            np.asarray(arrays[f"{prefix}covariances"]),
        )


def fit_class_mixture(
    values: np.ndarray, label: str, seed: int = 0, mean_precision_prior: float = 1.0
) -> GaussianMixture:
    """A BayesianGaussianMixture on one class's model-space parameters: as many components
    as the class has expert subclasses, mean prior at the transformed expert midpoints."""
    from sklearn.mixture import BayesianGaussianMixture

    values = np.asarray(values, dtype=np.float64)
    n_components = max(1, min(n_subclasses(label), values.shape[0] // 2))
    prior = class_prior_mean(label)
    bgm = BayesianGaussianMixture(
        n_components=n_components,
        covariance_type="full",
        mean_prior=prior,
        mean_precision_prior=mean_precision_prior,
        reg_covar=1e-4,
        max_iter=500,
        random_state=seed,
    )
    bgm.fit(values)
    weights = np.asarray(bgm.weights_, dtype=np.float64)
    return GaussianMixture(weights / weights.sum(), bgm.means_.copy(), bgm.covariances_.copy())
