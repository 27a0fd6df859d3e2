"""Survey augmentation: copies of the training curves as other surveys would have seen them.

The classifier sees only (Δt, Δm), so a model trained on one cadence and one noise level
learns that survey's sampling as much as the stars (on our shared real sets, a model trained
on OGLE-like simulations called most SDSS RR Lyrae and EROS stars δ Scuti). Each copy of a
training curve is, independently and at random:

1. **nightly** (probability `nightly_probability`): at most one point per night, as in
   OGLE-III, EROS-1 and SDSS Stripe 82 (simulated OGLE-like curves have several per night);
2. **thinned** (probability `thin_probability`): a random subset of n points, n log-uniform
   between `min_points` and the curve's size (EROS ~120, SDSS ~50, sparse surveys ~20);
3. **noisier** (probability `noise_probability`): Gaussian noise added so that the total
   error becomes σ, σ log-uniform in [0.01, `max_error`] mag (EROS photographic errors are
   0.1–0.2 mag); points already noisier than σ are left alone. Magnitude offsets need no
   augmentation: Δm removes them. The extra noise is Gaussian in magnitude, not in flux as
   the simulator's: drawing it (and the synthetic curves' noise) in flux, physically closer
   to EROS's skewed faint photometry, lowered the real-set figures of single quick models
   (two simulated draws, seeds 0–2: OGLE-III Cepheid recall 0.51 → 0.35 and 0.37 → 0.27).

Copies are made once per run (`augment_copies` per curve), featurised with the model's
feature settings and stored as extra *views* of each training row; every epoch each row is
shown as one of its views chosen at random (the original included), so the epoch size, and
the seconds per epoch, do not change. Test data is never augmented; validation gets one fixed
augmented copy per curve only when `augment_validation` is on.

With `cadence_from` (training/cadence_transfer.py), each training curve also gets
`transfer_copies` views re-observed at random cadence templates of those directories (its
Fourier model at another survey's epochs, with that survey's noise), stored and shown the
same way, after the augmented ones; a curve whose fit is poor keeps its original row there.

Synthetic batches arrive as features, not curves: `augment_features` rebuilds a curve from
each row (time = cumulative Δt, mag = cumulative Δm: exact up to a constant, which Δm
removes) and augments that, with `augment_synthetic` on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np

from broker_plugin.features import FeatureSettings, featurise_batch
from broker_plugin.lightcurve import LightCurve
from broker_plugin.model_inputs import classifiable, min_pairs
from training.classifier.data import LabelledFeatures
from training.config import TrainingConfig

MIN_ERROR = 0.01


def augment_curve(
    curve: LightCurve,
    rng: np.random.Generator,
    nightly_probability: float = 0.5,
    thin_probability: float = 0.6,
    noise_probability: float = 0.6,
    min_points: int = 20,
    max_error: float = 0.2,
) -> LightCurve:
    """One augmented copy of `curve` (module docstring); label, band and params are kept."""
    time, mag, err = curve.time, curve.mag, curve.err
    keep = np.flatnonzero(np.isfinite(time) & np.isfinite(mag))
    if rng.random() < nightly_probability and keep.size:
        night = np.floor(time[keep])
        # A random key per point, sorted within each night: the first of each night wins.
        order = np.lexsort((rng.random(keep.size), night))
        first = np.r_[True, np.diff(night[order]) != 0]
        keep = np.sort(keep[order[first]])
    if rng.random() < thin_probability and keep.size > min_points:
        n = int(np.exp(rng.uniform(np.log(min_points), np.log(keep.size))))
        keep = np.sort(rng.choice(keep, size=max(n, min_points), replace=False))
    time, mag, err = time[keep], mag[keep], err[keep]
    if rng.random() < noise_probability and keep.size:
        sigma = float(np.exp(rng.uniform(np.log(MIN_ERROR), np.log(max_error))))
        base = np.where(np.isfinite(err), err, 0.0)
        extra = np.sqrt(np.clip(sigma**2 - base**2, 0.0, None))
        mag = mag + rng.normal(0.0, 1.0, mag.size) * extra
        err = np.sqrt(base**2 + extra**2)
    return replace(curve, time=time, mag=mag, err=err)


def augment_curves(curves: Sequence[LightCurve], config: TrainingConfig,
                   rng: np.random.Generator) -> list[LightCurve]:
    """One augmented copy of each curve, with the config's probabilities."""
    return [augment_curve(c, rng, config.augment_nightly_probability,
                          config.augment_thin_probability, config.augment_noise_probability,
                          config.augment_min_points, config.augment_max_error)
            for c in curves]


def attach_views(
    train: LabelledFeatures,
    curves: Sequence[LightCurve],
    config: TrainingConfig,
    settings: FeatureSettings,
    seed: int = 0,
) -> LabelledFeatures:
    """Give `train` `config.augment_copies` augmented views per row (`curves` row-aligned),
    then, with `config.cadence_from`, `config.transfer_copies` re-observed views.

    A copy too short to featurise (thinning of a short curve) or without a usable fit falls
    back to the original row, so every view is a usable sequence.
    """
    transfer = config.transfer_copies if config.cadence_from else 0
    if (config.augment_copies < 1 and transfer < 1) or len(train) == 0:
        return train
    if len(curves) != len(train):
        raise ValueError("attach_views needs one curve per training row")
    rng = np.random.default_rng([seed, 7919])

    def views() -> Iterator[list[LightCurve]]:  # one view of every curve at a time
        for _ in range(config.augment_copies):
            yield augment_curves(curves, config, rng)
        if transfer:
            from training.cadence_transfer import transfer_views

            for view in transfer_views(curves, config.cadence_from, transfer, seed):
                yield [c if v is None else v for c, v in zip(curves, view, strict=True)]

    xs, lengths = [], []
    floor = min_pairs(config.min_points)
    for view in views():
        batch = featurise_batch(view, settings)
        usable = batch.lengths >= floor
        xs.append(np.where(usable[:, None, None], batch.x, train.x))
        lengths.append(np.where(usable, batch.lengths, train.lengths))
    train.views = np.stack(xs).astype(np.float32)
    train.view_lengths = np.stack(lengths)
    return train


def epoch_view(train: LabelledFeatures, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """(x, lengths) of one epoch: each row as its original or one of its views, at random."""
    if train.views is None:
        return train.x, train.lengths
    n_views = train.views.shape[0]
    pick = rng.integers(0, n_views + 1, len(train))  # 0 = the original row
    x, lengths = train.x.copy(), np.asarray(train.lengths).copy()
    for v in range(n_views):
        rows = np.flatnonzero(pick == v + 1)
        x[rows] = train.views[v, rows]
        lengths[rows] = train.view_lengths[v, rows]  # type: ignore[index]
    return x, lengths


def feature_lengths(x: np.ndarray) -> np.ndarray:
    """True lengths of zero-padded (N, 2, L) features: one past the last non-zero pair."""
    nonzero = (x[:, 0] != 0) | (x[:, 1] != 0)
    last = x.shape[-1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 0).astype(np.int64)


def augment_features(
    x: np.ndarray,
    config: TrainingConfig,
    settings: FeatureSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """Survey-augmented copies of feature rows (module docstring), row-aligned with `x`.

    Each row is augmented with probability copies/(copies + 1), the share of augmented views
    among the real rows; a copy too short to featurise keeps the original row.
    """
    n = len(x)
    if n == 0 or config.augment_copies < 1:
        return x
    lengths = feature_lengths(x)
    chosen = np.flatnonzero((rng.random(n) < config.augment_copies / (config.augment_copies + 1))
                            & (lengths > 0))
    if not chosen.size:
        return x
    curves = []
    for i in chosen:
        k = int(lengths[i])
        # A random start within the night, so 'one point per night' cuts at random phases.
        time = np.r_[0.0, np.cumsum(x[i, 0, :k], dtype=np.float64)] + rng.random()
        mag = np.r_[0.0, np.cumsum(x[i, 1, :k], dtype=np.float64)]
        curves.append(LightCurve(object_id=str(i), time=time, mag=mag,
                                 err=np.zeros_like(time)))
    batch = featurise_batch(augment_curves(curves, config, rng), settings)
    usable = classifiable(batch.lengths, config.min_points)
    out = x.copy()
    out[chosen[usable]] = batch.x[usable]
    return out


def augmented_validation(
    val: LabelledFeatures,
    curves: Sequence[LightCurve],
    config: TrainingConfig,
    settings: FeatureSettings,
    seed: int = 0,
) -> LabelledFeatures:
    """`val` plus one fixed augmented copy of each row (`curves` row-aligned with `val`).

    Early stopping and model selection on this set reward fits that survive other surveys'
    sampling, not only the training survey's.
    """
    if len(val) == 0:
        return val
    copy = LabelledFeatures(val.x, val.y, val.lengths, val.object_ids, val.classes)
    attach_views(copy, curves, config.with_overrides({"augment_copies": 1, "cadence_from": []}),
                 settings, seed + 104_729)
    assert copy.views is not None and copy.view_lengths is not None
    return LabelledFeatures(
        np.concatenate([val.x, copy.views[0]]), np.concatenate([val.y, val.y]),
        np.concatenate([val.lengths, copy.view_lengths[0]]),
        np.concatenate([val.object_ids, val.object_ids]), val.classes)
