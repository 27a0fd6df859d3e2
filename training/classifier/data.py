"""Labelled feature sets for the classifier: load, featurise, split, augment.

Features always come from `broker_plugin.features` (one featuriser for training and
serving). A `LabelledFeatures` holds x (N, 2, L) float32, integer labels indexing `classes`,
true lengths and object ids, so splits and reports can name the curves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from broker_plugin.errors import UserError
from broker_plugin.features import FeatureBatch, FeatureSettings
from broker_plugin.lightcurve import CLASSES, LightCurve
from broker_plugin.lightcurve_dir import read_lightcurve_dir
from broker_plugin.model_inputs import curve_inputs, min_pairs
from training.config import WINDOW_WIDTHS


class TrainingDataError(UserError, ValueError):
    """Training data that cannot be used (names the directory and the fix)."""


@dataclass
class LabelledFeatures:
    """Featurised, labelled curves (see module docstring)."""

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    object_ids: np.ndarray
    classes: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    source_index: np.ndarray | None = None  # position of each row in the input curve list
    # Augmented views of each row (training only, see augment.py): (K, N, 2, L) and (K, N).
    views: np.ndarray | None = None
    view_lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.y.size)

    def subset(self, index: np.ndarray) -> LabelledFeatures:
        source = None if self.source_index is None else self.source_index[index]
        views = None if self.views is None else self.views[:, index]
        view_lengths = None if self.view_lengths is None else self.view_lengths[:, index]
        return LabelledFeatures(self.x[index], self.y[index], self.lengths[index],
                                self.object_ids[index], self.classes, {}, source, views,
                                view_lengths)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts, strict=True)}

    def batch(self) -> FeatureBatch:
        return FeatureBatch(self.x, self.lengths)


def classes_in(curves: Sequence[LightCurve]) -> list[str]:
    """Classes present in the curves, in the project's canonical order (others after)."""
    present = {c.label for c in curves if c.label}
    return [c for c in CLASSES if c in present] + sorted(present - set(CLASSES))


def featurise_labelled(
    curves: Sequence[LightCurve],
    classes: Sequence[str],
    settings: FeatureSettings,
    min_points: int = 3,
) -> LabelledFeatures:
    """Featurise curves whose label is in `classes`; count what was left out and why.

    Short curves are left out by the rule serving applies to bands
    (`broker_plugin.model_inputs`: at least `min_points − 1` (Δt, Δm) pairs after the
    feature filters). `dropped` has 'unlabelled', 'label <X> not in model classes' and
    'too short (...)' counts, for reports.
    """
    index = {c: i for i, c in enumerate(classes)}
    dropped: Counter[str] = Counter()
    kept: list[LightCurve] = []
    positions: list[int] = []
    for position, curve in enumerate(curves):
        if not curve.label:
            dropped["unlabelled"] += 1
        elif curve.label not in index:
            dropped[f"label {curve.label} not in model classes"] += 1
        else:
            kept.append(curve)
            positions.append(position)
    inputs = curve_inputs(kept, settings, min_points)
    rows = inputs.rows
    if len(rows) < len(kept):
        dropped[f"too short (< {min_pairs(min_points)} usable (Δt, Δm) pairs, min_points "
                f"{min_points})"] += len(kept) - len(rows)
    labels = np.array([index[c.label] for c in kept], dtype=np.int64)
    ids = np.array([c.object_id for c in kept], dtype=object)
    return LabelledFeatures(
        inputs.features.x, labels[rows], inputs.features.lengths, ids[rows], list(classes),
        dict(dropped), np.asarray(positions, dtype=np.int64)[rows],
    )


def load_curves(directory: str | Path, max_per_class: int = 0, seed: int = 0) -> list[LightCurve]:
    """Curves of a light-curve directory (optionally at most `max_per_class` per label)."""
    curves = read_lightcurve_dir(directory)
    if not curves:
        raise TrainingDataError(f"{directory}: the manifest lists no light curves")
    if max_per_class > 0:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(curves))
        seen: Counter[str | None] = Counter()
        keep = []
        for i in order:
            if seen[curves[i].label] < max_per_class:
                seen[curves[i].label] += 1
                keep.append(int(i))
        curves = [curves[i] for i in sorted(keep)]
    return curves


def stratified_split(
    y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train index, validation index), stratified by label, seeded.

    A class with a single member goes to training (it cannot be in both).
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_val = round(fraction * members.size) if members.size > 1 else 0
        n_val = min(max(n_val, 1 if members.size > 1 and fraction > 0 else 0), members.size - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def random_windows(
    x: np.ndarray,
    lengths: np.ndarray,
    rng: np.random.Generator,
    probability: float = 0.5,
    min_length: int = 20,
    widths: str = "uniform",
) -> np.ndarray:
    """Augmentation: with `probability`, replace a sequence by a random window of random length.

    Alerts carry short histories, so training must see short sequences. A window of w
    consecutive (Δt, Δm) pairs starting at s is what featurising the corresponding stretch
    of the light curve gives (up to the per-curve quantile filters), moved to the start and
    zero-padded like every other short sequence. Widths are uniform in [min_length, length]
    or, with `widths="log"`, log-uniform, which shows a 300-pair curve as 20–40 pairs
    (a young object's history) a quarter of the time instead of 7 %. Vectorised.
    """
    if widths not in WINDOW_WIDTHS:
        raise ValueError(f"window widths {widths!r}: use one of {', '.join(WINDOW_WIDTHS)}")
    n, _, size = x.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    chosen = (rng.random(n) < probability) & (lengths > min_length)
    if not chosen.any():
        return x
    low = np.minimum(min_length, lengths)
    u = rng.random(n)
    if widths == "log":
        span = np.log(lengths + 1.0) - np.log(np.maximum(low, 1))
        drawn = np.floor(np.maximum(low, 1) * np.exp(u * span))
    else:
        drawn = low + np.floor(u * (lengths - low + 1))
    width = np.where(chosen, np.clip(drawn, low, lengths), lengths).astype(np.int64)
    start = np.where(chosen, np.floor(rng.random(n) * (lengths - width + 1)), 0).astype(np.int64)
    position = np.arange(size)[None, :]
    source = np.clip(start[:, None] + position, 0, size - 1)
    valid = position < width[:, None]
    out = np.take_along_axis(x, np.broadcast_to(source[:, None, :], x.shape), axis=2)
    return np.where(valid[:, None, :], out, 0.0).astype(np.float32)


class SyntheticSource(Protocol):
    """Anything that returns synthetic features for per-class counts at tempering b.

    Returns x (M, 2, L) float32 and labels (M,) int64 indexing the TRAINER's classes.
    """

    def __call__(self, counts: Mapping[str, int], b: float, seed: int) -> tuple[
        np.ndarray, np.ndarray
    ]: ...


class GeneratorSource:
    """`SyntheticSource` over a fitted PELS-VAE generator (training.generator)."""

    def __init__(self, generator: object, classes: Sequence[str], settings: FeatureSettings,
                 n_oversampling: int = 1) -> None:
        self.generator = generator
        self.classes = list(classes)
        self.settings = settings
        self.n_oversampling = n_oversampling
        gen_classes = list(generator.classes)  # type: ignore[attr-defined]
        self._to_ours = np.array([self.classes.index(c) if c in self.classes else -1
                                  for c in gen_classes], dtype=np.int64)
        self.supported = [c for c in self.classes if c in gen_classes]

    def __call__(self, counts: Mapping[str, int], b: float, seed: int) -> tuple[
        np.ndarray, np.ndarray
    ]:
        wanted = {c: int(n) for c, n in counts.items() if c in self.supported and n > 0}
        if not wanted:
            return (np.zeros((0, 2, self.settings.length), np.float32), np.zeros(0, np.int64))
        x, labels = self.generator.synthetic_features(  # type: ignore[attr-defined]
            wanted, b=b, n_oversampling=self.n_oversampling, settings=self.settings, seed=seed
        )
        mapped = self._to_ours[np.asarray(labels, dtype=np.int64)]
        keep = mapped >= 0
        return np.asarray(x, np.float32)[keep], mapped[keep]
