"""Tempered sampling from q ∝ p^b, the schedule, and the per-class mixtures."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from training.generator.physical import (
    class_prior_mean,
    impute_per_class,
    n_subclasses,
    params_matrix,
    to_model_space,
)
from training.generator.tempering import GaussianMixture, fit_class_mixture, tempered_b
from training.generator.toy import toy_curves


def _gaussian(sigma: float = 1.0) -> GaussianMixture:
    return GaussianMixture(np.array([1.0]), np.zeros((1, 1)), np.full((1, 1, 1), sigma**2))


@pytest.fixture(scope="module")
def rrlyr_mixture() -> GaussianMixture:
    curves = [c for c in toy_curves(60, classes=("RRLYR",), seed=3)]
    values = impute_per_class(to_model_space(params_matrix(curves)), np.array(["RRLYR"] * 60))
    return fit_class_mixture(values, "RRLYR", seed=0)


def test_schedule_starts_at_one_and_decays_to_final() -> None:
    """b(0) = 1 (sample p), b(∞) = b_f, and b is monotone in between."""
    values = [tempered_b(e, 0.3, 0.5) for e in range(40)]
    assert values[0] == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.3, abs=1e-6)
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert tempered_b(2, 0.3, 0.5) == pytest.approx(0.3 + 0.7 * math.exp(-1.0))


def test_tempered_gaussian_has_variance_one_over_b() -> None:
    """For p = N(0, 1), q ∝ p^b is N(0, 1/b): the sampler hits that (not p^(1+b))."""
    rng = np.random.default_rng(0)
    for b in (0.5, 2.0):
        draws = _gaussian().sample_tempered(20_000, b, rng, pool_size=200_000)
        assert np.std(draws) == pytest.approx(1 / math.sqrt(b), rel=0.05)


def test_b_one_matches_p_by_ks_per_dimension(rrlyr_mixture: GaussianMixture) -> None:
    """b = 1 draws and fresh draws from p pass a two-sample KS test in every dimension."""
    rng = np.random.default_rng(1)
    tempered = rrlyr_mixture.sample_tempered(3000, 1.0, rng)
    direct = rrlyr_mixture.sample(3000, np.random.default_rng(2))
    for dim in range(tempered.shape[1]):
        assert stats.ks_2samp(tempered[:, dim], direct[:, dim]).pvalue > 0.001


def test_ks_detects_a_different_temper(rrlyr_mixture: GaussianMixture) -> None:
    """The two-sample test has power: b = 0.3 draws differ from p in some dimension."""
    tempered = rrlyr_mixture.sample_tempered(3000, 0.3, np.random.default_rng(1))
    direct = rrlyr_mixture.sample(3000, np.random.default_rng(2))
    pvalues = [stats.ks_2samp(tempered[:, d], direct[:, d]).pvalue for d in range(6)]
    assert min(pvalues) < 1e-6


def test_spread_grows_as_b_falls(rrlyr_mixture: GaussianMixture) -> None:
    """Total standard deviation of the sample rises strictly as b goes 2 → 1 → 0.5 → 0.25."""
    spreads = [
        np.std(rrlyr_mixture.sample_tempered(4000, b, np.random.default_rng(5)), axis=0).sum()
        for b in (2.0, 1.0, 0.5, 0.25)
    ]
    assert all(a < b for a, b in itertools.pairwise(spreads))


def test_sampling_is_seeded(rrlyr_mixture: GaussianMixture) -> None:
    """Same seed, same draws; another seed, other draws."""
    a = rrlyr_mixture.sample_tempered(50, 0.5, np.random.default_rng(7))
    b = rrlyr_mixture.sample_tempered(50, 0.5, np.random.default_rng(7))
    c = rrlyr_mixture.sample_tempered(50, 0.5, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_log_pdf_matches_scipy_for_one_component() -> None:
    """Our log density equals scipy's multivariate normal for a single component."""
    cov = np.array([[2.0, 0.3], [0.3, 0.5]])
    mixture = GaussianMixture(np.array([1.0]), np.array([[1.0, -1.0]]), cov[None])
    x = np.random.default_rng(0).normal(size=(10, 2))
    expected = stats.multivariate_normal([1.0, -1.0], cov).logpdf(x)
    assert np.allclose(mixture.log_pdf(x), expected)


def test_mixture_has_one_component_per_subclass(rrlyr_mixture: GaussianMixture) -> None:
    """RRLYR has three expert subclasses (RRab, RRc, RRd), hence three components."""
    assert rrlyr_mixture.weights.size == n_subclasses("RRLYR") == 3
    assert rrlyr_mixture.weights.sum() == pytest.approx(1.0)


def test_non_positive_b_is_rejected() -> None:
    """b must be positive: p^0 is not a distribution over an unbounded space."""
    with pytest.raises(ValueError, match="positive"):
        _gaussian().sample_tempered(5, 0.0, np.random.default_rng(0))


def test_class_prior_mean_is_the_transformed_midpoint() -> None:
    """LPV's single subclass midpoint (P 550 d, Teff 2750 K, R 150) in model space."""
    expected = [math.log10(550), math.log10(2750), -0.5, 0.25, 0.0, math.log10(150)]
    assert np.allclose(class_prior_mean("LPV"), expected)
