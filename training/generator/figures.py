"""The paper's Figure 5 for our generator: per class, a decoded folded curve, the unfolded
synthetic curve (on its reference star's own epochs, shown as grey ticks), the synthetic
curve folded beside its nearest real neighbour, and its (Δt, Δm) sequence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from broker_plugin.features import FeatureSettings, featurise_batch
from broker_plugin.lightcurve import PHYSICAL_PARAMETERS, LightCurve
from training.generator.folding import MIN_LIGHT_PHASE, min_light_phase, phase_grid
from training.generator.generator import PelsGenerator
from training.generator.physical import to_model_space
from training.generator.synthesis import interpolate_periodic


def nearest_real(generator: PelsGenerator, class_index: int, grid: np.ndarray) -> int | None:
    """Row of the stored real example of the class closest in shape (MSE of the decoded
    curve against the real normalised magnitudes at the real phases)."""
    examples = generator.examples
    if not examples:
        return None
    rows = np.flatnonzero(examples["class_index"] == class_index)
    if rows.size == 0:
        return None
    phase = np.mod(examples["x"][rows, 0], 1.0)
    predicted = interpolate_periodic(grid[None], np.zeros_like(phase, dtype=np.int64), phase)
    distance = np.mean((examples["x"][rows, 1] - predicted) ** 2, axis=1)
    return int(rows[np.argmin(distance)])


def plot_synthetic(
    generator: PelsGenerator,
    out: str | Path,
    classes: Sequence[str] | None = None,
    b: float = 1.0,
    seed: int = 0,
) -> Path:
    """Write the figure as a PNG (one row per class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    classes = list(classes or generator.classes)
    fig, axes = plt.subplots(len(classes), 4, figsize=(16, 2.8 * len(classes)), squeeze=False)
    settings = FeatureSettings()
    n_phase = generator.config.n_phase
    for row, label in enumerate(classes):
        curve = generator.sample_curves({label: 1}, b=b, seed=seed + row)[0]
        class_index = generator.classes.index(label)
        period = curve.params["period"]
        model_params = _model_params(curve)
        grid = generator.decode_grid(np.array([class_index]), model_params[None])[0]
        ax = axes[row]
        phases = phase_grid(n_phase, 2)
        ax[0].plot(phases, np.tile(grid, 2), color="C0")
        ax[0].set_title(f"{label}: decoded (P = {period:.3g} d)")
        ax[0].set_xlabel("phase")
        ax[0].set_ylabel("normalised mag")
        ax[0].invert_yaxis()

        ax[1].errorbar(curve.time, curve.mag, curve.err, fmt=".", ms=2, lw=0.5, color="C1")
        _reference_epochs(ax[1], generator, curve)
        ax[1].set_title(
            f"unfolded: {len(curve)} points, {curve.meta['cycles']:.3g} cycles\n"
            f"on the epochs of {curve.meta['reference']}",
            fontsize=9,
        )
        ax[1].set_xlabel("time [d]")
        ax[1].set_ylabel("mag")
        ax[1].invert_yaxis()

        phase = np.mod((curve.time - curve.time[0]) / period, 1.0)
        phase = np.mod(phase - min_light_phase(phase, curve.mag) + MIN_LIGHT_PHASE, 1.0)
        low, high = np.quantile(curve.mag, (0.02, 0.98))
        ax[2].plot(phase, (curve.mag - low) / (high - low), ".", ms=2, color="C1",
                   label="synthetic")
        real = nearest_real(generator, class_index, grid)
        if real is not None:
            x = generator.examples["x"][real]
            ax[2].plot(np.mod(x[0], 1.0) + 1.0, x[1], ".", ms=2, color="C2",
                       label="nearest real (phase + 1)")
        ax[2].set_title("folded: synthetic | nearest real")
        ax[2].set_xlabel("phase")
        ax[2].invert_yaxis()
        ax[2].legend(fontsize=7, loc="lower right")

        features = featurise_batch([curve], settings)
        n = int(features.lengths[0])
        ax[3].plot(features.x[0, 0, :n], features.x[0, 1, :n], ".", ms=3, color="C3")
        ax[3].set_xscale("log")
        ax[3].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax[3].set_title(f"(Δt, Δm), {n} pairs")
        ax[3].set_xlabel("Δt [d]")
        ax[3].set_ylabel("Δm [mag]")
    fig.suptitle(f"PELS-VAE synthetic light curves (b = {b:g})")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _reference_epochs(ax: object, generator: PelsGenerator, curve: LightCurve) -> None:
    """Grey ticks at the bottom: all epochs of the reference star (the synthetic curve
    uses a contiguous run of them, so seasons and nightly gaps are the survey's)."""
    refs = generator.references
    found = np.flatnonzero(
        (refs.object_id == curve.meta["reference"])
        & (refs.band == curve.meta.get("reference_band", ""))
    )
    if found.size == 0:
        return
    times, _ = refs.observations(int(found[0]))
    low, high = ax.get_ylim()  # type: ignore[attr-defined]
    ax.plot(times, np.full(times.size, max(low, high)), "|", color="0.6", ms=6,  # type: ignore[attr-defined]
            label="reference epochs")
    ax.legend(fontsize=7, loc="upper right")  # type: ignore[attr-defined]


def _model_params(curve: LightCurve) -> np.ndarray:
    return to_model_space(np.array([curve.params[p] for p in PHYSICAL_PARAMETERS]))
