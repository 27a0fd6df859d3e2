"""Cadence transfer (training/cadence_transfer.py): templates, re-observation, simulate and
training hooks.

Shared-data tests take the Catalina (CRTS) cadence as the target: its four exposures within
~30 min on each visited night are a cadence none of the training sets has.
"""

from __future__ import annotations

import itertools
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp
from typer.testing import CliRunner

from broker_plugin.lightcurve import LightCurve
from broker_plugin.lightcurve_dir import read_lightcurve_dir, write_lightcurve_dir
from training.cadence_transfer import (
    CadenceTemplates,
    ErrorRelation,
    fit_fourier,
    load_cadence_templates,
    reobserve,
    reobserve_many,
    simulator_band,
)
from training.simulator.periodogram import lomb_scargle_period

runner = CliRunner()


def _quad_nights(rng: np.random.Generator, nights: int, baseline: float = 1500.0) -> np.ndarray:
    """CRTS-like epochs: `nights` random nights, four exposures within ~30 min on each."""
    night = np.sort(rng.choice(int(baseline), nights, replace=False)).astype(float)
    offsets = np.array([0.0, 0.007, 0.014, 0.021])
    return (night[:, None] + 0.3 + offsets[None, :]).ravel() + 53000.0


def _err_of(mag: np.ndarray) -> np.ndarray:
    return 0.05 + 0.02 * 10 ** (0.4 * (mag - 17.0))


def _template_dir(root: Path, n_objects: int = 12, seed: int = 0) -> Path:
    """A small unlabelled light-curve directory with a known cadence and error relation;
    the last object has two bands (B_E and R_E) on different nights."""
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(n_objects):
        bands = ["B_E", "R_E"] if i == n_objects - 1 else ["V"]
        for band in bands:
            t = _quad_nights(rng, int(rng.integers(30, 60)))
            mag = rng.uniform(13.0, 19.0) + 0.2 * np.sin(t / 3.0)
            curves.append(LightCurve(f"T{i:03d}", t, mag, _err_of(mag), band=band,
                                     survey="QUAD"))
    write_lightcurve_dir(root, curves)
    return root


def _fourier_curve(rng: np.random.Generator, period: float = 0.61, n: int = 220,
                   noise: float = 0.02, label: str = "RRLYR") -> LightCurve:
    t = np.sort(rng.uniform(0.0, 900.0, n)) + 2000.0
    phase = 2 * np.pi * t / period
    mag = 15.0 + 0.35 * np.sin(phase) + 0.15 * np.sin(2 * phase + 0.8) + 0.07 * np.sin(
        3 * phase + 1.9)
    err = np.full(n, noise)
    return LightCurve("STAR", t, mag + rng.normal(0.0, noise, n), err, band="I", label=label,
                      survey="TOY", params={"period": period}, meta={"subclass": "RRab"})


def _dts(curves) -> np.ndarray:
    return np.concatenate([np.diff(np.sort(c.time)) for c in curves if c is not None])


# --------------------------------------------------------------------------- no shared data


def test_band_names_map_to_nearest_simulator_passband() -> None:
    """Exact names stay; survey names go to the nearest passband by wavelength; unknown → V."""
    cases = {"V": "V", "r": "r", "I": "I", "G": "G", "Hp": "V", "B_E": "g", "R_E": "r",
             "R": "r", "B": "g", "ZTF_g": "g", "clear": "V", "Kp": "r", "K": "y",
             "weird": "V", None: "V", "": "V"}
    assert {k: simulator_band(k) for k in cases} == cases


def test_error_relation_recovers_and_extrapolates() -> None:
    """A binned median follows err(m) and keeps rising past the faintest bin."""
    rng = np.random.default_rng(1)
    mag = rng.uniform(12.0, 19.0, 20_000)
    err = _err_of(mag) * np.exp(rng.normal(0.0, 0.1, mag.size))
    relation = ErrorRelation.fit("S", "V", mag, err, rng.uniform(12.5, 18.5, 300))
    grid = np.array([12.5, 14.0, 16.0, 18.0, 18.8])
    np.testing.assert_allclose(relation.sigma(grid), _err_of(grid), rtol=0.06)
    faint = relation.sigma(np.array([18.9, 20.0, 21.0]))
    assert faint[0] < faint[1] < faint[2] <= 1.0
    assert relation.sigma(np.array([8.0]))[0] == pytest.approx(relation.sigma(
        np.array([relation.mag[0]]))[0])
    assert 12.4 < relation.mag_range[0] < 12.7 and 18.3 < relation.mag_range[1] < 18.6


def test_templates_keep_epochs_bands_and_errors(tmp_path: Path) -> None:
    """Epochs relative to the first, objects contiguous, quality x relation = the errors."""
    directory = _template_dir(tmp_path / "tpl")
    templates = load_cadence_templates(directory)
    real = read_lightcurve_dir(directory)
    assert len(templates) == len(real) == 13 and templates.n_groups == 12
    assert sorted(templates.sim_band.tolist()) == sorted(["V"] * 11 + ["g", "r"])
    assert len(templates.relations) == 3  # one per band
    by_key = {(c.object_id, c.band): c for c in real}
    for i in range(len(templates)):
        tpl = templates[i]
        curve = by_key[(tpl.object_id, tpl.band)]
        np.testing.assert_allclose(tpl.epochs, curve.time - curve.time.min(), atol=1e-9)
        np.testing.assert_allclose(tpl.errors(curve.mag), curve.err, rtol=1e-9)
    group = templates.group[templates.object_id == "T011"]
    assert group.size == 2 and group[0] == group[1]
    index, owner = templates.sample_groups(500, np.random.default_rng(0))
    assert np.bincount(owner).max() == 2 and index.size == owner.size


def test_fit_and_resample_a_known_fourier_curve(tmp_path: Path) -> None:
    """Fit a 3-harmonic curve, re-observe it at nightly quadruplets: period, amplitude,
    label, band and meta survive; epochs are the template's; noise is the template's."""
    rng = np.random.default_rng(3)
    curve = _fourier_curve(rng)
    fits = fit_fourier([curve])
    assert fits.usable[0] and fits.reason[0] == "" and fits.order[0] >= 3
    truth = 15.0 + 0.35 * np.sin(2 * np.pi * np.linspace(0, 1, 2000)) + 0.15 * np.sin(
        4 * np.pi * np.linspace(0, 1, 2000) + 0.8) + 0.07 * np.sin(
        6 * np.pi * np.linspace(0, 1, 2000) + 1.9)
    assert fits.amplitude[0] == pytest.approx(np.ptp(truth), rel=0.03)
    templates = load_cadence_templates(_template_dir(tmp_path / "tpl"))
    template = templates[0]
    out = reobserve(curve, template, np.random.default_rng(4))
    assert out is not None
    np.testing.assert_allclose(out.time - out.time.min(), template.epochs, atol=1e-9)
    assert (out.label, out.band, out.meta["subclass"]) == ("RRLYR", "I", "RRab")
    assert out.survey == "TOY→QUAD" and out.params["period"] == 0.61
    # The template survey's errors at the star's magnitudes (14.4-15.6 mag here).
    expected = template.quality * template.relation.sigma(np.full(len(out), 15.0))
    np.testing.assert_allclose(out.err, expected, rtol=0.1)
    # A star fainter than the survey's window is re-observed at the window's faint edge.
    faint = reobserve(curve.with_(mag=curve.mag + 10.0), template, np.random.default_rng(4))
    assert faint is not None
    assert np.median(faint.mag) == pytest.approx(template.relation.mag_range[1], abs=0.1)
    # Many re-observations: the period comes back and the amplitude is kept.
    many = reobserve_many([curve] * 20, templates, np.random.default_rng(5))
    found = [lomb_scargle_period(c.time, c.mag, 0.55, 0.68) for c in many]
    assert np.mean(np.abs(np.array(found) / 0.61 - 1) < 0.01) >= 0.9
    refit = fit_fourier(many, periods=np.full(20, 0.61))
    assert np.median(refit.amplitude) == pytest.approx(np.ptp(truth), rel=0.1)


def test_bad_fits_are_reported_not_resampled(tmp_path: Path) -> None:
    """Pure noise at a given period, too few points, no period at all: None, with a reason."""
    rng = np.random.default_rng(7)
    good = _fourier_curve(rng)
    noise = good.with_(mag=15.0 + rng.normal(0.0, 0.05, len(good)), err=np.full(len(good), 0.05))
    short = good.with_(time=good.time[:8], mag=good.mag[:8], err=good.err[:8])
    unknown = good.with_(params={}, label="LPV", time=np.linspace(0.0, 15.0, len(good)))
    # (a 15-day baseline is shorter than twice the shortest LPV period searched)
    fits = fit_fourier([good, noise, short, unknown])
    assert fits.usable.tolist() == [True, False, False, False]
    assert fits.reason[1].startswith("poor fit") and fits.reason[2].startswith("too few")
    assert fits.reason[3].startswith("no period")
    templates = load_cadence_templates(_template_dir(tmp_path / "tpl"))
    out = reobserve_many([good, noise, short, unknown], templates, rng, fits=fits)
    assert out[0] is not None and out[1:] == [None, None, None]


def test_simulate_cli_observes_at_template_epochs(tmp_path: Path) -> None:
    """`training simulate --cadence-from DIR`: every curve's epochs are one template's epochs
    (shifted), its band the template's mapped band, its errors the template survey's."""
    from training.cli import app

    directory = _template_dir(tmp_path / "tpl")
    templates = load_cadence_templates(directory)
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--n-per-class", "4",
                                 "--cadence-from", str(directory), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "B_E→g" in result.output and "R_E→r" in result.output
    curves = read_lightcurve_dir(out)
    assert {c.label for c in curves} == {"CEP", "DSCT", "ECL", "LPV", "RRLYR"}
    patterns = {}
    for i in range(len(templates)):
        tpl = templates[i]
        patterns[(str(templates.object_id[i]), str(templates.sim_band[i]))] = tpl.epochs
    for curve in curves:
        survey, object_id = curve.meta["cadence_template"].split(":")
        assert survey == "QUAD" and curve.survey == "sim-QUAD"
        epochs = patterns[(object_id, curve.band)]
        np.testing.assert_allclose(np.sort(curve.time) - curve.time.min(), epochs, atol=2e-6)
        assert np.all(curve.err >= 0.045) and np.all(curve.err <= 1.0)


def test_synthetic_curves_unfold_on_template_epochs(tmp_path: Path) -> None:
    """The generator's synthesis with templates: a contiguous run of one template's epochs
    (capped), the reference's range moved into the template's window, its survey's errors;
    without templates the reference stars' epochs, as before."""
    from training.generator.references import ReferenceSet
    from training.generator.synthesis import unfold
    from training.generator.toy import toy_curves

    refs_curves = toy_curves(4, classes=("CEP", "RRLYR"), seed=4)
    references = ReferenceSet.build(refs_curves, np.array([0] * 4 + [1] * 4),
                                    np.array([c.params["period"] for c in refs_curves]))
    templates = load_cadence_templates(_template_dir(tmp_path / "tpl"))
    grid = np.tile(0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(40) + 0.5) / 40), (30, 1))
    reference = np.arange(30) % len(references)
    period = 10 ** references.log_period[reference]
    batch = unfold(grid, period, reference, references, np.random.default_rng(0), 100,
                   templates=templates)
    starts = batch.starts
    patterns = [templates[i].epochs for i in range(len(templates))]
    ranges = np.array([r.mag_range for r in templates.relations])
    window = (ranges[:, 0].min(), ranges[:, 1].max())
    for i, start in enumerate(starts):
        t = batch.time[start:start + batch.sizes[i]]
        assert batch.sizes[i] <= 100
        assert any(_is_run_of(t - t[0], p) for p in patterns)
        m = batch.mag[start:start + batch.sizes[i]]
        assert window[0] - 1.0 < np.median(m) < window[1] + 1.0
    assert np.all((batch.err > 0.045) & (batch.err < 1.0))
    plain = unfold(grid, period, reference, references, np.random.default_rng(0), 100)
    ref_times = set(np.round(references.time, 6))
    assert set(np.round(plain.time, 6)) <= ref_times


def _is_run_of(relative: np.ndarray, pattern: np.ndarray) -> bool:
    """Whether `relative` (starting at 0) is a contiguous run of `pattern`'s gaps."""
    gaps, full = np.diff(relative), np.diff(pattern)
    for k in range(full.size - gaps.size + 1):
        if np.allclose(full[k:k + gaps.size], gaps, atol=1e-6):
            return True
    return False


def test_config_takes_directory_lists() -> None:
    """--set cadence_from=[a,b] (or a,b) parses to a list; a YAML round trip keeps it."""
    from training.config import TrainingConfig, load_config_file, parse_overrides, resolve_config

    assert parse_overrides(["cadence_from=[a/x, b/y]"]) == {"cadence_from": ["a/x", "b/y"]}
    assert parse_overrides(["cadence_from=a"]) == {"cadence_from": ["a"]}
    assert parse_overrides(["cadence_from=[]"]) == {"cadence_from": []}
    config = resolve_config("quick", overrides=["cadence_from=[d1,d2]", "transfer_copies=3"])
    assert config.cadence_from == ["d1", "d2"] and config.transfer_copies == 3
    assert TrainingConfig(cadence_from="one").cadence_from == ["one"]  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as folder:
        back = TrainingConfig().with_overrides(load_config_file(config.save(folder)))
    assert back.cadence_from == ["d1", "d2"]


def _toy_training_set(n: int = 12):
    from broker_plugin.features import FeatureSettings
    from training.classifier.data import featurise_labelled
    from training.config import TrainingConfig

    rng = np.random.default_rng(8)
    curves = []
    for i in range(n):
        c = _fourier_curve(rng, period=0.4 + 0.05 * i, n=150,
                           label="RRLYR" if i % 2 else "CEP")
        curves.append(c.with_(object_id=f"S{i}"))
    settings = FeatureSettings(length=64)
    train = featurise_labelled(curves, ["CEP", "RRLYR"], settings, 10)
    return curves, train, settings, TrainingConfig(augment_copies=1)


def test_training_views_include_transferred_copies(tmp_path: Path) -> None:
    """cadence_from + transfer_copies add views at the templates' cadence after the
    augmented ones, which stay as they were; without cadence_from nothing changes."""
    from training.classifier.augment import attach_views

    directory = _template_dir(tmp_path / "tpl")
    curves, train, settings, config = _toy_training_set()
    plain = attach_views(train.subset(np.arange(len(train))), curves, config, settings, 3)
    moved = attach_views(train.subset(np.arange(len(train))), curves, config.with_overrides(
        {"cadence_from": [str(directory)], "transfer_copies": 2}), settings, 3)
    assert plain.views is not None and plain.views.shape[0] == 1
    assert moved.views is not None and moved.views.shape[0] == 3
    np.testing.assert_array_equal(moved.views[0], plain.views[0])
    for v in (1, 2):
        dt = moved.views[v][:, 0]
        dt = dt[dt > 0]
        assert np.mean(dt < 0.5) > 0.6  # quadruplets: three same-night pairs in four
    original = train.x[:, 0][train.x[:, 0] > 0]
    assert np.mean(original < 0.5) < 0.3
    none = attach_views(train.subset(np.arange(len(train))), curves, config.with_overrides(
        {"transfer_copies": 2}), settings, 3)
    np.testing.assert_array_equal(none.views, plain.views)  # type: ignore[arg-type]


def test_train_cli_and_generator_receive_the_templates(tmp_path: Path, monkeypatch) -> None:
    """`training train --cadence-from DIR` sets cadence_from; generator_source then hands the
    generator the templates its synthesis observes at."""
    import training.classifier.run as run_module
    import training.generator as generator_module
    from training.cli import app

    directory = _template_dir(tmp_path / "tpl")
    seen = {}

    def fake_train_run(data, out, config, **kwargs):
        seen["config"] = config
        raise RuntimeError("stop here")

    monkeypatch.setattr(run_module, "train_run", fake_train_run)
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--cadence-from", str(directory), "--set", "transfer_copies=1"])
    assert str(result.exception) == "stop here"
    config = seen["config"]
    assert config.cadence_from == [str(directory)] and config.transfer_copies == 1

    class FakeGenerator:
        classes = ("CEP", "RRLYR")
        templates = None

    monkeypatch.setattr(generator_module.PelsGenerator, "load",
                        classmethod(lambda cls, path, device=None: FakeGenerator()))
    from broker_plugin.features import FeatureSettings

    source = run_module.generator_source(tmp_path, [], ["CEP", "RRLYR"], FeatureSettings(),
                                         config, tmp_path, False)
    assert isinstance(source.generator.templates, CadenceTemplates)
    assert len(source.generator.templates) == 13


# --------------------------------------------------------------------------- shared data


@pytest.fixture(scope="module")
def crts_halves(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path,
                                                                                     Path]:
    """The first 800 CRTS curves through the importer, split into two interleaved halves:
    templates come from one, the other is the target survey's real data."""
    from training.importers import crts

    archive, report = crts._prepare(shared_data / "crts_drake2014")
    curves = list(itertools.islice(crts._scan(archive, report, False), 800))
    root = tmp_path_factory.mktemp("crts")
    write_lightcurve_dir(root / "a", curves[0::2])
    write_lightcurve_dir(root / "b", curves[1::2])
    return root / "a", root / "b"


@pytest.fixture(scope="module")
def ogle_cepheids(shared_data: Path) -> list[LightCurve]:
    """150 OGLE-III LMC fundamental-mode Cepheids with catalogue periods (importer parsing)."""
    from training.importers.ogle import parse_dat, read_period_table

    periods, _ = read_period_table(shared_data / "ogle3_lmc_cep" / "cepFO3.dat")
    curves = []
    with tarfile.open(shared_data / "ogle3_lmc_cep" / "phot_I.tar.gz", "r|gz") as archive:
        for member in archive:
            name = Path(member.name).stem
            if not member.isfile() or name not in periods:
                continue
            data = parse_dat(archive.extractfile(member).read())  # type: ignore[union-attr]
            curves.append(LightCurve(name, data[:, 0], data[:, 1], data[:, 2], band="I",
                                     label="CEP", survey="OGLE-III",
                                     params={"period": periods[name]}))
            if len(curves) == 150:
                break
    return curves


def test_transferred_cadence_matches_crts(crts_halves: tuple[Path, Path],
                                          ogle_cepheids: list[LightCurve]) -> None:
    """OGLE Cepheids re-observed at CRTS templates have CRTS's Δt: KS ≤ 0.05 against other
    real CRTS curves and the same share of same-night pairs (the OGLE originals fail both)."""
    templates = load_cadence_templates(crts_halves[0])
    target = _dts(read_lightcurve_dir(crts_halves[1]))
    out = reobserve_many(ogle_cepheids, templates, np.random.default_rng(0))
    assert np.mean([c is not None for c in out]) >= 0.95
    moved = _dts(out)
    assert ks_2samp(moved, target).statistic <= 0.05
    assert abs(np.mean(moved < 0.5) - np.mean(target < 0.5)) <= 0.02
    original = _dts(ogle_cepheids)
    assert ks_2samp(original, target).statistic > 0.3
    assert abs(np.mean(original < 0.5) - np.mean(target < 0.5)) > 0.3


def test_reobserved_cepheids_keep_period_and_amplitude(crts_halves: tuple[Path, Path],
                                                       ogle_cepheids: list[LightCurve]) -> None:
    """Lomb–Scargle on the re-observed curve finds the catalogue period within 1 % for most;
    the amplitude (refitted at that period) stays within 10 % typically, 20 % mostly."""
    templates = load_cadence_templates(crts_halves[0])
    curves = ogle_cepheids[:40]
    fits = fit_fourier(curves)
    out = reobserve_many(curves, templates, np.random.default_rng(1), fits=fits)
    kept = [i for i, c in enumerate(out) if c is not None]
    periods = np.array([curves[i].params["period"] for i in kept])
    found = np.array([lomb_scargle_period(out[i].time, out[i].mag, 0.9 * p, 1.1 * p)
                      for i, p in zip(kept, periods, strict=True)])
    assert np.mean(np.abs(found / periods - 1) < 0.01) >= 0.9
    refit = fit_fourier([out[i] for i in kept], periods=periods)
    ratio = refit.amplitude / fits.amplitude[kept]
    assert abs(np.median(ratio) - 1) < 0.1 and np.mean(np.abs(ratio - 1) < 0.2) >= 0.9


def test_simulated_crts_cadence_matches_real(crts_halves: tuple[Path, Path]) -> None:
    """Simulated stars observed at CRTS templates: Δt and same-night share as real CRTS."""
    from training.simulator.simulate import simulate_curves

    templates = load_cadence_templates(crts_halves[0])
    assert isinstance(templates, CadenceTemplates)
    sim = simulate_curves(40, templates=templates, seed=2)
    target = _dts(read_lightcurve_dir(crts_halves[1]))
    moved = _dts(sim)
    assert ks_2samp(moved, target).statistic <= 0.05
    assert abs(np.mean(moved < 0.5) - np.mean(target < 0.5)) <= 0.02
    assert {c.band for c in sim} == {"V"} and {c.survey for c in sim} == {"sim-CRTS"}
