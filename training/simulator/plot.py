"""A grid of example light curves per class, raw and phase-folded at the manifest period."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from broker_plugin.errors import UserError
from broker_plugin.lightcurve import CLASSES, LightCurve


class PlotError(UserError, ValueError):
    """Nothing to plot."""


def pick_examples(curves: Sequence[LightCurve], per_class: int) -> dict[str, list[LightCurve]]:
    """Up to `per_class` curves per class, different subclasses first, best-sampled band."""
    best: dict[str, LightCurve] = {}
    for curve in curves:  # one curve per object: the band with most points
        key = curve.object_id
        if key not in best or len(curve) > len(best[key]):
            best[key] = curve
    chosen: dict[str, list[LightCurve]] = {}
    for label in [*CLASSES, *sorted({c.label or "?" for c in best.values()} - set(CLASSES))]:
        pool = [c for c in best.values() if (c.label or "?") == label]
        if not pool:
            continue
        seen: set[str] = set()
        first = []
        for c in pool:
            sub = str(c.meta.get("subclass", ""))
            if sub not in seen:
                seen.add(sub)
                first.append(c)
        rest = [c for c in pool if c not in first]
        chosen[label] = (first + rest)[:per_class]
    return chosen


def plot_curve_grid(curves: Sequence[LightCurve], out: Path, per_class: int = 3) -> Path:
    """Save a PNG: one row per class, for each example the raw curve and the folded one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    examples = pick_examples(curves, per_class)
    if not examples:
        raise PlotError("no light curves to plot; check the directory's manifest")
    rows, cols = len(examples), 2 * per_class
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.3 * rows), squeeze=False)
    for r, (label, chosen) in enumerate(examples.items()):
        for j in range(per_class):
            raw, folded = axes[r, 2 * j], axes[r, 2 * j + 1]
            if j >= len(chosen):
                raw.axis("off")
                folded.axis("off")
                continue
            _draw(raw, folded, chosen[j])
        axes[r, 0].set_ylabel(f"{label}\nmag", fontsize=10, fontweight="bold")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _draw(raw: object, folded: object, curve: LightCurve) -> None:
    t, m, e = curve.time, curve.mag, curve.err
    ok = np.isfinite(t) & np.isfinite(m)
    t, m, e = t[ok], m[ok], e[ok]
    sub = curve.meta.get("subclass", "")
    period = curve.params.get("period")
    amp = curve.meta.get("amplitude")
    title = f"{sub} {curve.band or ''}".strip()
    raw.errorbar(t - t.min(), m, yerr=e, fmt=".", ms=2, lw=0.3, alpha=0.6, color="k")
    raw.set_title(f"{title}  N={t.size}", fontsize=8)
    raw.set_xlabel("t - t0 [d]", fontsize=7)
    raw.invert_yaxis()
    if period and np.isfinite(period) and period > 0:
        phase = ((t - t.min()) / period) % 1.0
        for shift in (0.0, 1.0):
            folded.errorbar(phase + shift, m, yerr=e, fmt=".", ms=2, lw=0.3, alpha=0.6,
                            color="C0" if shift == 0 else "C1")
        extra = f", A={amp:.2f}" if isinstance(amp, float) and np.isfinite(amp) else ""
        folded.set_title(f"P={period:.4g} d{extra}", fontsize=8)
        folded.set_xlabel("phase", fontsize=7)
        folded.invert_yaxis()
    else:
        folded.text(0.5, 0.5, "no period", ha="center", transform=folded.transAxes)
    for ax in (raw, folded):
        ax.tick_params(labelsize=6)
