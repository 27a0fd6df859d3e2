"""Physics of the simulator: periods recoverable, PL relation, consistent parameters."""

from __future__ import annotations

import numpy as np
import pytest

from broker_plugin.lightcurve import CLASSES, PHYSICAL_PARAMETERS, LightCurve
from training.simulator import physics as ph
from training.simulator import simulate_curves
from training.simulator.periodogram import fourier_parameters, lomb_scargle_period

G_CGS, MSUN_G, RSUN_CM = 6.674e-8, 1.98841e33, 6.957e10


@pytest.fixture(scope="module")
def ogle() -> list[LightCurve]:
    """A small OGLE-like sample of every class."""
    return simulate_curves(25, "ogle", seed=11)


def _of(curves: list[LightCurve], label: str, subclass: str | None = None) -> list[LightCurve]:
    return [c for c in curves if c.label == label
            and (subclass is None or c.meta["subclass"] == subclass)]


def _first_season(curve: LightCurve, days: float = 200.0) -> tuple[np.ndarray, np.ndarray]:
    c = curve.sorted()
    keep = c.time < c.time[0] + days
    return c.time[keep], c.mag[keep]


@pytest.mark.parametrize(("label", "subclass", "search", "days", "rate", "n"), [
    # short periods under ~one visit a night need a few seasons to beat the 1-day alias
    ("RRLYR", None, (0.15, 1.2), 800.0, 0.95, 12), ("CEP", None, (0.5, 150.0), 200.0, 0.95, 12),
    # faint δ Scuti are noisy: with a dozen, one star more or less moves the rate by 8 %
    ("DSCT", "Single-mode", (0.02, 0.3), 800.0, 0.8, 24),
])
def test_lomb_scargle_recovers_pulsation_periods(ogle, label, subclass, search, days, rate,
                                                 n) -> None:
    """The highest Lomb-Scargle peak of a pulsator is its simulated period (within 1 %)."""
    sample = ogle if n <= 12 else simulate_curves(2 * n, "ogle", seed=11, classes=[label])
    curves = _of(sample, label, subclass)[:n]
    hits = [abs(lomb_scargle_period(*_first_season(c, days), *search) / c.params["period"] - 1)
            < 0.01 for c in curves]
    assert len(curves) >= n // 2 and np.mean(hits) >= rate


def test_lomb_scargle_finds_contact_binaries_at_half_or_full_period(ogle) -> None:
    """Contact binaries' two equal minima put the LS peak at P/2 (or P), as physics says."""
    curves = _of(simulate_curves(30, "ogle", seed=12, classes=["ECL"]), "ECL", "contact")
    ratios = np.array([lomb_scargle_period(*_first_season(c), 0.05, 5.0) / c.params["period"]
                       for c in curves])
    ok = (np.abs(ratios - 0.5) < 0.005) | (np.abs(ratios - 1.0) < 0.01)
    assert len(curves) >= 5 and ok.mean() >= 0.8


def test_miras_period_recovered_despite_irregularity(ogle) -> None:
    """Miras wander in phase and amplitude, yet their period stays recoverable within 10 %."""
    curves = _of(ogle, "LPV", "Mira")
    ratios = np.array([lomb_scargle_period(c.time, c.mag, 40.0, 1500.0) / c.params["period"]
                       for c in curves])
    assert np.mean(np.abs(ratios - 1.0) < 0.1) >= 0.9


def test_lpv_cycles_are_irregular(ogle) -> None:
    """Folded LPV curves scatter far more than their photometric errors (cycle-to-cycle wander)."""
    from training.simulator.periodogram import fourier_fit

    excess = []
    for c in _of(ogle, "LPV"):
        amp, ph_ = fourier_fit(c.time, c.mag, c.params["period"], harmonics=2)
        phase = 2 * np.pi * c.time / c.params["period"]
        model = sum(a * np.sin((k + 1) * phase + p) for k, (a, p) in enumerate(zip(amp, ph_,
                                                                                     strict=True)))
        resid = c.mag - np.mean(c.mag - model) - model
        excess.append(np.std(resid) / np.median(c.err))
    assert np.median(excess) > 5.0


def test_cepheid_period_luminosity_slope_matches_leavitt_law() -> None:
    """Dereddened mean I of fundamental Cepheids follows slope -2.96 (Soszyński et al. 2008)."""
    curves = _of(simulate_curves(150, "ogle", seed=13, classes=["CEP"]), "CEP", "Fundamental")
    logp = np.log10([c.params["period"] for c in curves])
    abs_i = [np.median(c.mag) - c.meta["distmod"] - 0.59 * c.meta["extinction_v"]
             for c in curves]
    slope, zero = np.polyfit(logp, abs_i, 1)
    assert slope == pytest.approx(-2.962, abs=0.15)
    assert zero == pytest.approx(-1.883, abs=0.2)


def test_cepheid_period_radius_relation() -> None:
    """Fundamental Cepheid radii follow log R = 1.146 + 0.680 log P (Gieren et al. 1998)."""
    curves = _of(simulate_curves(100, "ogle", seed=14, classes=["CEP"]), "CEP", "Fundamental")
    slope, zero = np.polyfit(np.log10([c.params["period"] for c in curves]),
                             np.log10([c.params["radius"] for c in curves]), 1)
    assert slope == pytest.approx(0.68, abs=0.05) and zero == pytest.approx(1.146, abs=0.05)


def test_hertzsprung_progression_lowers_r21_near_ten_days() -> None:
    """Fundamental Cepheids near P = 10 d have a smaller R21 than those at 2-6 d."""
    curves = _of(simulate_curves(400, "ogle", seed=15, classes=["CEP"]), "CEP", "Fundamental")
    p = np.array([c.params["period"] for c in curves])
    r21 = np.array([fourier_parameters(c.time, c.mag, c.params["period"])["R21"] for c in curves])
    near, short = (p > 8.5) & (p < 11.5), (p > 2) & (p < 6)
    assert near.sum() >= 3 and np.median(r21[near]) < np.median(r21[short]) - 0.1


def _median_skew_by_period(curves: list[LightCurve], period_of, bins) -> list[float]:
    from scipy.stats import skew

    periods = np.array([period_of(c) for c in curves])
    skews = np.array([skew(c.mag) for c in curves])
    return [float(np.median(skews[(periods >= lo) & (periods < hi)])) for lo, hi in bins]


def test_fundamental_cepheid_shapes_match_ogle3(shared_data) -> None:
    """Simulated F-mode Cepheids are as lopsided as real ones at each period (needs
    ../shared/data): saw-tooth at 2 d, near-symmetric at 5-12 d.

    Magnitude skewness measures the shape without a fit. With one saw-tooth at every period
    the simulator made 5-12 d Cepheids look like RR Lyrae, and the classifier then sent
    real ones to RR Lyrae and delta Scuti.
    """
    from training.importers.ogle import load_ogle

    folder = shared_data / "ogle3_lmc_cep"
    real, _ = load_ogle(folder / "phot_I.tar.gz", ident=folder / "ident.dat",
                        periods=[folder / "cepFO3.dat"])
    real = [c for c in real if c.meta.get("mode") == "F" and np.isfinite(c.params.get(
        "period", np.nan))]
    simulated = _of(simulate_curves(500, "ogle", seed=17, classes=["CEP"]), "CEP",
                    "Fundamental")
    bins = [(1.5, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 12.0)]
    real_skew = _median_skew_by_period(real, lambda c: c.params["period"], bins)
    sim_skew = _median_skew_by_period(simulated, lambda c: c.params["period"], bins)
    assert real_skew[0] < -0.15 < 0.05 < real_skew[2]  # the data show the progression
    assert np.allclose(sim_skew, real_skew, atol=0.15), (sim_skew, real_skew)


def _amplitude_and_skew(curves: list[LightCurve], band: str) -> tuple[float, float]:
    """Median 5-95 % magnitude range and median magnitude skewness of RRab in `band`."""
    from scipy.stats import skew

    chosen = [c for c in curves if c.band == band and c.meta.get("subclass") == "RRab"]
    ranges = [np.percentile(c.mag, 95) - np.percentile(c.mag, 5) for c in chosen]
    return float(np.median(ranges)), float(np.median([skew(c.mag) for c in chosen]))


def test_rr_lyrae_colours_of_amplitude_and_shape_match_sdss(shared_data) -> None:
    """RRab amplitudes fall and shapes flatten from g to i as in SDSS Stripe 82 (needs
    ../shared/data).

    A black-body amplitude ratio and one band-free shape made simulated i-band RR Lyrae too
    large and too lopsided, which is what the classifier then expected of real ones.
    """
    from training.importers.sdss_rrlyr import load_sdss_rrlyr

    real, _ = load_sdss_rrlyr(shared_data / "sdss_s82_rrlyr")
    simulated = simulate_curves(120, "lsst", seed=18, classes=["RRLYR"])
    real_g, sim_g = _amplitude_and_skew(real, "g"), _amplitude_and_skew(simulated, "g")
    for band in ("r", "i"):
        (real_amp, real_skew) = _amplitude_and_skew(real, band)
        (sim_amp, sim_skew) = _amplitude_and_skew(simulated, band)
        assert sim_amp / sim_g[0] == pytest.approx(real_amp / real_g[0], abs=0.07), band
        assert sim_skew == pytest.approx(real_skew, abs=0.12), band
    assert sim_g[1] == pytest.approx(real_g[1], abs=0.12)


def test_rrab_phi31_encodes_metallicity() -> None:
    """[Fe/H] from the fitted phi31 (Jurcsik & Kovács 1996) correlates with the true [Fe/H]."""
    curves = _of(simulate_curves(60, "ogle", seed=16, classes=["RRLYR"]), "RRLYR", "RRab")
    fitted = [fourier_parameters(c.time, c.mag, c.params["period"]) for c in curves]
    period = np.array([c.params["period"] for c in curves])
    feh_jk = -5.038 - 5.394 * period + 1.345 * np.array([f["phi31"] for f in fitted])
    feh = np.array([c.params["feh"] for c in curves])
    assert np.corrcoef(feh_jk, feh)[0, 1] > 0.7
    assert np.median(feh_jk - feh) == pytest.approx(0.0, abs=0.15)


def test_rrlyrae_absolute_magnitude_depends_on_metallicity(ogle) -> None:
    """RR Lyrae M_G ~ 0.6 with slope ~0.32 per dex [Fe/H] (Muraveva et al. 2018)."""
    curves = simulate_curves(150, "ogle", seed=17, classes=["RRLYR"])
    feh = np.array([c.params["feh"] for c in curves])
    mg = np.array([c.params["abs_gmag"] for c in curves])
    assert np.polyfit(feh, mg, 1)[0] == pytest.approx(0.32, abs=0.08)
    assert np.median(mg) == pytest.approx(0.63, abs=0.15)


def test_solar_gravity_constant_matches_cgs() -> None:
    """log10(G M_sun / R_sun^2) in cgs is the constant the simulator uses."""
    assert np.log10(G_CGS * MSUN_G / RSUN_CM**2) == pytest.approx(ph.LOGG_SUN, abs=0.002)


@pytest.mark.parametrize(("label", "mass_range"), [
    ("RRLYR", (0.5, 0.85)), ("CEP", (2.5, 20.0)), ("DSCT", (1.2, 3.2)), ("LPV", (0.7, 3.2)),
    ("ECL", (0.8, 16.0)),
])
def test_logg_radius_imply_class_masses(ogle, label, mass_range) -> None:
    """M = g R^2 / G from the published logg and radius lands in the class's mass range."""
    curves = _of(ogle, label)
    mass = np.array([10 ** (c.params["logg"] - ph.LOGG_SUN) * c.params["radius"] ** 2
                     for c in curves])
    assert np.all((mass > mass_range[0]) & (mass < mass_range[1]))


@pytest.mark.parametrize("label", ["RRLYR", "CEP", "DSCT", "LPV"])
def test_stefan_boltzmann_ties_radius_teff_and_abs_gmag(ogle, label) -> None:
    """R = sqrt(L) (T_sun/T)^2 with L from M_G and BC_G(Teff): the parameters agree."""
    for c in _of(ogle, label):
        lum = ph.luminosity_from_abs_gmag(c.params["abs_gmag"], c.params["teff"])
        radius = ph.radius_from_luminosity(lum, c.params["teff"])
        assert radius == pytest.approx(c.params["radius"], rel=1e-6)


@pytest.mark.parametrize(("label", "low", "high"), [
    ("RRLYR", 0.2, 1.0), ("CEP", 1.0, 100.0), ("DSCT", 0.02, 0.3), ("ECL", 0.1, 100.0),
    ("LPV", 80.0, 1000.0),
])
def test_periods_inside_class_ranges(ogle, label, low, high) -> None:
    """Every period lies inside the class range of the issue and class_priors.yaml."""
    periods = np.array([c.params["period"] for c in _of(ogle, label)])
    assert periods.min() >= low and periods.max() <= high


@pytest.mark.parametrize(("label", "low", "high"), [
    ("RRLYR", 0.1, 1.1), ("CEP", 0.05, 1.0), ("DSCT", 0.005, 1.0), ("ECL", 0.005, 3.0),
    ("LPV", 0.05, 4.0),
])
def test_i_band_amplitudes_inside_class_ranges(ogle, label, low, high) -> None:
    """Peak-to-peak I amplitudes fit the class (OGLE: RRab <~1 mag, Miras > 0.8 mag...)."""
    amps = np.array([c.meta["amplitude"] for c in _of(ogle, label)])
    assert amps.min() >= low and amps.max() <= high


def test_mira_amplitudes_exceed_semiregulars(ogle) -> None:
    """Miras are the large-amplitude LPVs (I amplitude > 0.8 mag by definition)."""
    mira = [c.meta["amplitude"] for c in _of(ogle, "LPV", "Mira")]
    srv = [c.meta["amplitude"] for c in _of(ogle, "LPV", "SRV")]
    # SRV peak-to-peak is over the whole baseline, where their wander adds up
    assert min(mira) > 0.7 and np.median(mira) > 1.5 * np.median(srv)


def test_every_curve_carries_all_physical_parameters(ogle) -> None:
    """Each curve has the six finite parameters, a subclass and an amplitude."""
    assert {c.label for c in ogle} == set(CLASSES)
    for c in ogle:
        assert all(np.isfinite(c.params[p]) for p in PHYSICAL_PARAMETERS)
        assert c.meta["subclass"] and c.meta["amplitude"] > 0
