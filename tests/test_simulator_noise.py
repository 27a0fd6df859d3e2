"""Photometric noise drawn in flux (training/simulator/noise.py)."""

from __future__ import annotations

import numpy as np
import pytest

from training.simulator.noise import MAG_PER_FLUX, flux_noise_mag


def skewness(x: np.ndarray) -> float:
    return float(np.mean(((x - x.mean()) / x.std()) ** 3))


def test_noise_is_gaussian_and_unbiased_in_flux() -> None:
    """Fluxes of the noisy magnitudes scatter by sigma/1.0857 around the true flux."""
    offsets = flux_noise_mag(np.full(200_000, 0.2), np.random.default_rng(0))
    flux = 10.0 ** (-0.4 * offsets)
    assert flux.mean() == pytest.approx(1.0, abs=0.002)
    assert flux.std() == pytest.approx(0.2 / MAG_PER_FLUX, rel=0.01)
    assert abs(skewness(flux)) < 0.05


def test_faint_noise_skews_magnitudes_faintwards_and_bright_noise_does_not() -> None:
    """At 0.2 mag the magnitudes are skewed towards faint (as EROS-1 R); at 0.01 mag not."""
    rng = np.random.default_rng(1)
    assert skewness(flux_noise_mag(np.full(200_000, 0.2), rng)) > 0.4
    assert abs(skewness(flux_noise_mag(np.full(200_000, 0.01), rng))) < 0.05
    assert np.std(flux_noise_mag(np.full(200_000, 0.01), rng)) == pytest.approx(0.01, rel=0.02)


def test_zero_sigma_adds_nothing_and_deep_dips_stay_finite() -> None:
    """Points that need no extra noise keep their magnitude; huge sigmas give finite values."""
    rng = np.random.default_rng(2)
    np.testing.assert_array_equal(flux_noise_mag(np.zeros(100), rng), np.zeros(100))
    assert np.isfinite(flux_noise_mag(np.full(10_000, 3.0), rng)).all()
