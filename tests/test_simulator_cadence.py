"""Cadences, noise and reproducibility of the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from broker_plugin.errors import UserError
from training.simulator import simulate_curves
from training.simulator.cadence import get_cadence
from training.simulator.shapes import circle_overlap


def _same(a, b) -> bool:
    return all(
        x.object_id == y.object_id and np.array_equal(x.time, y.time)
        and np.array_equal(x.mag, y.mag) and np.array_equal(x.err, y.err) and x.params == y.params
        for x, y in zip(a, b, strict=True)
    )


def test_same_seed_reproduces_exactly() -> None:
    """Two runs with one seed give identical times, magnitudes, errors and parameters."""
    assert _same(simulate_curves(4, "ogle", seed=3), simulate_curves(4, "ogle", seed=3))


def test_different_seeds_differ() -> None:
    """Another seed gives other stars."""
    a, b = simulate_curves(3, "ogle", seed=3), simulate_curves(3, "ogle", seed=4)
    assert not np.array_equal(a[0].mag, b[0].mag)


def test_class_subset_gives_the_same_stars() -> None:
    """A class's curves do not depend on which other classes are simulated with it."""
    alone = simulate_curves(3, "ogle", seed=5, classes=["LPV"])
    together = [c for c in simulate_curves(3, "ogle", seed=5) if c.label == "LPV"]
    assert _same(alone, together)


def test_lsst_gives_one_curve_per_band_per_object() -> None:
    """LSST-like stars have ugrizy curves sharing one object id, more r/i than u visits."""
    curves = simulate_curves(6, "lsst", seed=6)
    by_object: dict[str, dict[str, int]] = {}
    for c in curves:
        assert c.survey == "sim-lsst"
        by_object.setdefault(c.object_id, {})[c.band] = len(c)
    assert len(by_object) == 30
    assert all(set(bands) == set("ugrizy") for bands in by_object.values())
    u = np.mean([b["u"] for b in by_object.values()])
    r = np.mean([b["r"] for b in by_object.values()])
    assert r > 2 * u


def test_ogle_cadence_has_seasons_and_hundreds_of_points() -> None:
    """OGLE-like curves: I band, hundreds of points, years of baseline with seasonal gaps."""
    curves = simulate_curves(4, "ogle", seed=7)
    for c in curves:
        gaps = np.diff(np.sort(c.time))
        assert c.band == "I" and 200 <= len(c) <= 900
        assert 4.5 * 365 < c.baseline < 8.7 * 365 and gaps.max() > 60


def _gap_summary(times: list[np.ndarray]) -> tuple[float, float, float]:
    """Median points per curve, median Δt and the share of Δt under half a day."""
    gaps = np.concatenate([np.diff(np.sort(t)) for t in times])
    return float(np.median([t.size for t in times])), float(np.median(gaps)), float(
        np.mean(gaps < 0.5))


def test_ogle_cadence_matches_the_real_ogle3_cepheids(shared_data) -> None:
    """Simulated OGLE-like sampling looks like OGLE-III's (needs ../shared/data).

    The classifier sees only (Δt, Δm): a simulated cadence with many more same-night pairs
    than the real survey taught it cues that real OGLE-III curves do not have.
    """
    from training.importers.ogle import parse_dat
    from training.importers.sources import iter_tar_members

    real = []
    for name, raw in iter_tar_members(shared_data / "ogle3_lmc_cep" / "phot_I.tar.gz"):
        if not name.endswith(".dat"):
            continue
        real.append(parse_dat(raw)[:, 0])
        if len(real) == 400:
            break
    simulated = [c.time for c in simulate_curves(60, "ogle", seed=11)]
    (n_real, dt_real, short_real) = _gap_summary(real)
    (n_sim, dt_sim, short_sim) = _gap_summary(simulated)
    assert 0.67 < n_sim / n_real < 1.5, (n_sim, n_real)
    assert 0.6 < dt_sim / dt_real < 1.5, (dt_sim, dt_real)
    assert abs(short_sim - short_real) < 0.05, (short_sim, short_real)


def test_sparse_cadence_has_tens_of_points() -> None:
    """Sparse curves hold tens of points (Gaia-like transit pairs)."""
    sizes = [len(c) for c in simulate_curves(5, "sparse", seed=8)]
    assert min(sizes) >= 16 and max(sizes) <= 70


def test_errors_grow_with_magnitude() -> None:
    """Fainter stars get larger errors (sky + source noise), floor at the bright end."""
    cad = get_cadence("ogle")
    sigma = cad.noise("I", np.array([14.0, 17.0, 19.0, 20.5]))
    assert np.all(np.diff(sigma) > 0) and sigma[0] == pytest.approx(0.0045, abs=0.002)
    assert 0.05 < sigma[-1] < 0.15


def test_errors_describe_the_scatter() -> None:
    """Point-to-point scatter of fast-sampled quiet stretches matches the quoted errors."""
    curves = simulate_curves(40, "ogle", seed=9, classes=["ECL"])
    ratios = []
    for c in curves:
        c = c.sorted()
        dm, dt = np.diff(c.mag), np.diff(c.time)
        quick = dt < 0.02 * c.params["period"]
        if quick.sum() > 3:
            ratios.append(np.median(np.abs(dm[quick])) / np.median(c.err) / (0.6745 * np.sqrt(2)))
    assert ratios and np.median(ratios) == pytest.approx(1.0, abs=0.35)


def test_unknown_cadence_is_a_user_error() -> None:
    """An unknown cadence name gets one line listing the choices."""
    with pytest.raises(UserError, match="ogle, lsst, sparse"):
        simulate_curves(1, "ztf")


def test_circle_overlap_limits() -> None:
    """Disc overlap: none when apart, the small disc when inside, symmetric lens between."""
    r1, r2 = np.array([1.0, 1.0, 1.0]), np.array([0.5, 0.5, 1.0])
    area = circle_overlap(np.array([2.0, 0.2, 1.0]), r1, r2)
    lens = 2 * (np.pi / 3 - np.sqrt(3) / 4)  # two unit discs one radius apart
    assert area == pytest.approx([0.0, np.pi * 0.25, lens])


def test_stored_curves_round_trip_within_the_stored_decimals(tmp_path) -> None:
    """Simulated curves read back to 1e-6 d in time and 1e-5 mag, parameters exactly."""
    from broker_plugin.lightcurve_dir import LightCurveDirWriter, read_lightcurve_dir
    from training.simulator.cli import STORED_DECIMALS

    curves = simulate_curves(2, "lsst", seed=10, classes=["RRLYR"])
    with LightCurveDirWriter(tmp_path, decimals=STORED_DECIMALS) as writer:
        writer.write(curves)
    back = read_lightcurve_dir(tmp_path)
    for a, b in zip(curves, back, strict=True):
        assert (a.object_id, a.band, a.label, a.survey) == (b.object_id, b.band, b.label, b.survey)
        np.testing.assert_array_equal(b.time, np.round(a.time, 6))
        np.testing.assert_array_equal(b.mag, np.round(a.mag, 5))
        np.testing.assert_array_equal(b.err, np.round(a.err, 5))
        assert a.params == b.params and b.meta["subclass"] == a.meta["subclass"]
