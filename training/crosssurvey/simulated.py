"""Simulated stars beside the real ones of every leave-one-survey-out fold.

One definition for the benchmarks that train on the folds (`bench/loso.py`) and those that
re-use its fold models (`bench/calibration_loso.py`, whose unknown score's bank must be the
very training rows, simulated ones included, as `training train` builds it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from broker_plugin.lightcurve import LightCurve
from training.crosssurvey import loso


def write_cadences(curves: Sequence[LightCurve], workdir: Path) -> dict[str, Path]:
    """Each survey's curves without labels, one directory per survey, as cadence templates."""
    from broker_plugin.lightcurve_dir import LightCurveDirWriter

    out: dict[str, Path] = {}
    for survey in sorted({loso.survey_of(c) for c in curves}):
        target = workdir / "cadences" / loso.safe_name(survey)
        out[survey] = target
        if (target / "manifest.csv").is_file():
            continue
        with LightCurveDirWriter(target, "lc") as writer:
            writer.write(c.with_(label=None, meta={}, params={}) for c in curves
                         if loso.survey_of(c) == survey)
    return out


def simulated(n_per_class: int, seed: int) -> list[LightCurve]:
    from training.simulator.simulate import simulate_curves

    if n_per_class <= 0:
        return []
    return [c.with_(survey=f"sim-{cadence}") for k, cadence in enumerate(("ogle", "lsst",
                                                                          "sparse"))
            for c in simulate_curves(n_per_class, cadence, seed=seed + k)]


def simulated_at_surveys(n_per_class: int, cadences: dict[str, Path], seed: int,
                         min_curves: int = 20) -> list[LightCurve]:
    """`n_per_class` simulated stars of every class observed at each survey's own epochs,
    bands and errors (its curves as cadence templates, labels unused: `@all`), so that every
    class is shown in every survey's look, with the simulator's physical periods."""
    from training.cadence_transfer import load_cadence_templates
    from training.simulator.simulate import simulate_curves

    if n_per_class <= 0:  # without it every survey's curves would be read for nothing
        return []
    out: list[LightCurve] = []
    for k, (survey, directory) in enumerate(sorted(cadences.items())):
        templates = load_cadence_templates([directory])
        if len(templates) < min_curves:
            continue
        out += [c.with_(survey=f"sim-at-{survey}")
                for c in simulate_curves(n_per_class, None, seed=seed + 100 + k,
                                         templates=templates)]
    return out
