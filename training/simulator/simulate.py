"""Simulate labelled light curves: population -> distance and selection -> cadence -> noise.

Work is done per class in chunks of stars with numpy over all points of a chunk. Every
chunk has its own seed, spawned from (seed, cadence, class, chunk), so results do not depend
on which other classes are asked for or on the chunk being streamed or collected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from broker_plugin.errors import UserError
from broker_plugin.lightcurve import CLASSES, PHYSICAL_PARAMETERS, LightCurve
from training.simulator import physics as ph
from training.simulator import population as popmod
from training.simulator import shapes
from training.simulator.cadence import CADENCES, EXTINCTION_RATIO, Cadence, get_cadence
from training.simulator.noise import flux_noise_mag

if TYPE_CHECKING:
    from training.cadence_transfer import CadenceTemplates

CHUNK = 500
#: A star enters the simulated catalogue when its amplitude is at least this many sigma.
DETECTION_SIGMA = 1.5
_OUTLIER_RATE = 0.002


class SimulationError(UserError, ValueError):
    """Simulation options that cannot work (unknown class, negative count)."""


@dataclass(frozen=True)
class SimulatedChunk:
    """One chunk of one class: its curves (one per star and band)."""

    label: str
    curves: list[LightCurve]
    n_objects: int


def simulate_curves(
    n_per_class: int,
    cadence: str | None = None,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
    progress: bool = False,
    templates: CadenceTemplates | None = None,
) -> list[LightCurve]:
    """Simulated light curves, `n_per_class` stars of each class (one curve per band).

    Curves carry `label`, `band`, `survey` ("sim-<cadence>"), the six physical parameters in
    `params` and `subclass`, `amplitude` (peak-to-peak of the noise-free model in the band,
    mag), `distmod` and `extinction_v` in `meta`. For eclipsing binaries, period is the
    orbital period and teff, radius, logg, feh describe the primary, abs_gmag the system.
    Stars are kept only if the survey would catalogue them: mean magnitude between its
    saturation and depth, amplitude above 1.5 sigma. Deterministic for a given seed.
    `cadence` None is "ogle"; `templates`: observe at real surveys' epochs instead, `cadence`
    then only placing the stars (see `iter_chunks`).
    """
    curves: list[LightCurve] = []
    if not progress:
        for chunk in iter_chunks(n_per_class, cadence, seed, classes, templates=templates):
            curves.extend(chunk.curves)
        return curves
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task(f"simulating {cadence}", total=n_per_class * len(classes))
        for chunk in iter_chunks(n_per_class, cadence, seed, classes, templates=templates):
            curves.extend(chunk.curves)
            bar.advance(task, chunk.n_objects)
    return curves


def iter_chunks(
    n_per_class: int, cadence: str | None, seed: int, classes: Sequence[str] = CLASSES,
    chunk_size: int = CHUNK, templates: CadenceTemplates | None = None,
) -> Iterator[SimulatedChunk]:
    """Chunks of simulated curves in class order (streaming: memory stays bounded).

    With `templates` (training.cadence_transfer), stars are observed at the templates'
    epochs, bands, magnitude window and noise; `cadence`, when not None, then only says
    where the stars are (its distances and extinction). Without, `cadence` None is "ogle".
    """
    cad = validate_options(n_per_class, cadence or "ogle", classes)
    cadence_index = list(CADENCES).index(cad.name)
    if templates is not None:
        cad = templates.cadence(cadence)
        cadence_index = len(CADENCES) + (0 if cadence is None else 1 + cadence_index)
    for label in classes:
        class_index = CLASSES.index(label)
        for chunk_index, start in enumerate(range(0, n_per_class, chunk_size)):
            n = min(chunk_size, n_per_class - start)
            seq = np.random.SeedSequence([seed, cadence_index, class_index, chunk_index])
            rng = np.random.default_rng(seq)
            curves = _simulate_chunk(label, n, cad, rng, seed, start)
            yield SimulatedChunk(label, curves, n)


def validate_options(n_per_class: int, cadence: str, classes: Sequence[str]) -> Cadence:
    """The cadence, after checking the options; one-line errors name the valid choices."""
    cad = get_cadence(cadence)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes:
        raise SimulationError(f"unknown class(es) {unknown}; choose from {', '.join(CLASSES)}")
    if n_per_class < 0:
        raise SimulationError(f"--n-per-class must be >= 0, got {n_per_class}")
    return cad


def select_observable(
    label: str, n: int, cad: Cadence, rng: np.random.Generator,
    draw: Callable[[str, int, np.random.Generator], popmod.Population] = popmod.draw_population,
) -> popmod.Population:
    """n stars that the survey would see: mean magnitude between saturation and its limit.

    The distance modulus is drawn uniformly inside the survey's range intersected with the
    window that keeps the star observable; stars with no such distance are drawn again.
    """
    parts: list[popmod.Population] = []
    have = 0
    for _ in range(50):
        m = max(int(1.5 * (n - have)) + 8, 16)
        pop = draw(label, m, rng)
        extinction = cad.extinction_v(m, rng)
        abs_sel = popmod.band_abs_mag(label, pop, cad.selection_band)
        a_sel = extinction * EXTINCTION_RATIO[cad.selection_band]
        lo = np.maximum(cad.distmod_range[0], cad.bright_limit - abs_sel - a_sel)
        hi = np.minimum(cad.distmod_range[1], cad.faint_limit - abs_sel - a_sel)
        keep = lo < hi
        pop["distmod"] = lo + (hi - lo) * rng.random(m)
        pop["extinction_v"] = extinction
        # a catalogue holds only stars whose variability was detected: amplitude >= 1.5 sigma
        sigma = cad.noise(cad.selection_band, abs_sel + pop["distmod"] + a_sel)
        keep &= ~(_expected_amplitude(label, pop, cad.selection_band) < DETECTION_SIGMA * sigma)
        parts.append({k: v[keep] for k, v in pop.items()})
        have += int(keep.sum())
        if have >= n:
            break
    else:
        raise SimulationError(f"cannot place {label} stars inside the {cad.name} magnitude window")
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def _expected_amplitude(label: str, pop: popmod.Population, band: str) -> np.ndarray:
    """Peak-to-peak amplitude in `band` before the light curve is sampled."""
    if label == "LPV":
        return pop["amplitude_ref"] * shapes.LPV_AMPLITUDE_RATIO[band]
    if label == "ECL":  # eclipse depths: render one orbit on a coarse grid
        n, k = pop["period"].size, 200
        grid = {**pop, "epoch": np.zeros(n)}
        seg = np.repeat(np.arange(n), k)
        t = np.tile(np.linspace(0.0, 1.0, k, endpoint=False), n) * pop["period"][seg]
        return np.ptp(shapes.render_ecl(grid, seg, t, band).reshape(n, k), axis=1)
    return pop["amplitude_ref"] * ph.pulsation_amplitude_ratio(band, pop["teff"])


def _simulate_chunk(
    label: str, n: int, cad: Cadence, rng: np.random.Generator, seed: int, start: int
) -> list[LightCurve]:
    pop = select_observable(label, n, cad, rng)
    times = cad.sample_times(n, rng)
    t_first = np.full(n, np.inf)
    t_last = np.full(n, -np.inf)
    for t, counts in times.values():
        seg = np.repeat(np.arange(n), counts)
        np.minimum.at(t_first, seg, t)
        np.maximum.at(t_last, seg, t)
    t_first = np.where(np.isfinite(t_first), t_first, cad.time_origin)
    t_last = np.maximum(t_last, t_first + 1.0)
    pop["epoch"] = t_first + rng.random(n) * pop["period"]
    if label == "LPV":
        shapes.prepare_lpv(pop, t_first, np.maximum(t_last, t_first + 12 * pop["period"]), rng)
    per_band: dict[str, tuple[list[np.ndarray], ...]] = {}
    for band, (t, counts) in times.items():
        seg = np.repeat(np.arange(n), counts)
        mean = (popmod.band_abs_mag(label, pop, band) + pop["distmod"]
                + pop["extinction_v"] * EXTINCTION_RATIO[band])
        true = mean[seg] + shapes.render(label, pop, seg, t, band)
        err = cad.point_noise(times, band, true, rng)
        mag = true + flux_noise_mag(err, rng)
        outlier = rng.random(true.size) < _OUTLIER_RATE
        mag[outlier] += rng.normal(0.0, 0.3, int(outlier.sum()))
        bounds = np.cumsum(counts)[:-1]
        per_band[band] = (np.split(t, bounds), np.split(mag, bounds), np.split(err, bounds),
                          _amplitudes(label, pop, band, t_first, t_last))
    return _build_curves(label, pop, cad, per_band, seed, start, cad.star_meta(times, n))


def _amplitudes(
    label: str, pop: popmod.Population, band: str, t_first: np.ndarray, t_last: np.ndarray,
    n_grid: int = 400,
) -> np.ndarray:
    """Peak-to-peak of the noise-free model: over one cycle (periodic) or the baseline."""
    n = t_first.size
    if label == "DSCT":  # beating modes over 40 short cycles need a finer grid
        n_grid = 1500
    frac = np.linspace(0.0, 1.0, n_grid)
    if label in ("LPV", "DSCT"):
        span = np.maximum(np.minimum(t_last - t_first, 40 * pop["period"]), pop["period"])
    else:
        span = pop["period"]
    grid = (t_first[:, None] + span[:, None] * frac[None, :]).ravel()
    seg = np.repeat(np.arange(n), n_grid)
    model = shapes.render(label, pop, seg, grid, band).reshape(n, n_grid)
    return np.ptp(model, axis=1)


def _build_curves(
    label: str, pop: popmod.Population, cad: Cadence,
    per_band: dict[str, tuple[list[np.ndarray], ...]], seed: int, start: int,
    star_meta: list[dict[str, Any]],
) -> list[LightCurve]:
    curves = []
    n = pop["period"].size
    params = {p: pop[p].astype(float) for p in PHYSICAL_PARAMETERS}
    for i in range(n):
        object_id = f"sim-{cad.name}-s{seed}-{label}-{start + i:06d}"
        star_params = {p: float(params[p][i]) for p in PHYSICAL_PARAMETERS}
        for band, (times, mags, errs, amps) in per_band.items():
            if not times[i].size:  # a template star not observed in this band
                continue
            curves.append(LightCurve(
                object_id=object_id, time=times[i], mag=mags[i], err=errs[i], band=band,
                label=label, survey=cad.survey, params=star_params,
                meta={"subclass": str(pop["subclass"][i]), "amplitude": float(amps[i]),
                      "distmod": float(pop["distmod"][i]),
                      "extinction_v": float(pop["extinction_v"][i]), **star_meta[i]},
            ))
    return curves
