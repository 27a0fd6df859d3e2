"""Light curves → model inputs → probabilities: the one path of training, evaluation and serving.

The short-curve rule. A light curve (training, calibration, `training evaluate`) or one band
of an alert (`broker-plugin run` and `classify`) is classified when the (Δt, Δm) sequence that
`broker_plugin.features` builds from it with the model card's feature settings (non-finite
and repeated points dropped, visits merged if the settings say so, then the paper's Δm and Δt
filters) keeps at least `min_points − 1` pairs, and never fewer than one, where `min_points`
is the model card's field. `min_points` thus counts *usable points*: one more than the
sequence's true length, the number of pairs the model actually sees. The rule is applied
after featurising, by `segment_inputs` (and `curve_inputs`, its form for `LightCurve`s), in
`training.classifier.data.featurise_labelled` (curves left out of training, calibration and
evaluation, counted under "too short"), in `training evaluate`'s other-class curves, and in
serving's `AlertPipeline` (bands skipped; an alert with no band left is rejected as
`too_few_points`, its message listing how many points each band had). Because the filters
drop the extreme pairs of every curve with fewer than about a thousand pairs (a 0.1 %
quantile of a short curve is its second-smallest value), a band needs two or three raw
points more than `min_points` in practice. Training always kept curves this way, so serving
now classifies exactly the kind of sequence the model was trained and calibrated on, and a
curve that `training evaluate` scores is the curve that `classify` scores, with the same
probabilities.

The probabilities of every path come from serving's `Classifier.predict_scored` (onnxruntime,
one session per model directory); `graph_classifier` gives that same runner for a bare
exported graph whose card is not written yet (export's parity check and drift reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from broker_plugin.features import FeatureBatch, FeatureSettings, featurise_segments
from broker_plugin.lightcurve import LightCurve

if TYPE_CHECKING:
    from broker_plugin.serving.classifier import Classifier


def min_pairs(min_points: int) -> int:
    """Fewest (Δt, Δm) pairs, after the feature filters, of a curve or band that is classified."""
    return max(int(min_points) - 1, 1)


def classifiable(lengths: np.ndarray, min_points: int) -> np.ndarray:
    """Which sequences of these true lengths (`FeatureBatch.lengths`) pass the rule."""
    return np.asarray(lengths) >= min_pairs(min_points)


@dataclass(frozen=True)
class ModelInputs:
    """The sequences of the curves (or bands) that pass the rule, and which inputs they are.

    `features` row k is input `rows[k]`; inputs not in `rows` were too short.
    """

    features: FeatureBatch
    rows: np.ndarray
    n_inputs: int

    @property
    def too_short(self) -> np.ndarray:
        """Boolean mask over the inputs: True where the rule left the input out."""
        mask = np.ones(self.n_inputs, dtype=bool)
        mask[self.rows] = False
        return mask


def segment_inputs(
    time: np.ndarray,
    mag: np.ndarray,
    sizes: np.ndarray,
    settings: FeatureSettings,
    min_points: int,
) -> ModelInputs:
    """Model inputs of curves stored back to back (curve i owns the next `sizes[i]` points).

    Curves with fewer than `min_pairs + 1` raw points cannot keep `min_pairs` pairs (n points
    give at most n − 1) and are not featurised at all: that saves time and changes nothing,
    since every curve is featurised on its own.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    candidate = sizes >= min_pairs(min_points) + 1
    points = np.repeat(candidate, sizes)
    batch = featurise_segments(np.asarray(time)[points], np.asarray(mag)[points],
                               sizes[candidate], settings)
    passing = classifiable(batch.lengths, min_points)
    return ModelInputs(FeatureBatch(x=batch.x[passing], lengths=batch.lengths[passing]),
                       np.flatnonzero(candidate)[passing], int(sizes.size))


def curve_inputs(curves: Sequence[LightCurve], settings: FeatureSettings,
                 min_points: int) -> ModelInputs:
    """`segment_inputs` of light curves (each curve one input, whatever its band)."""
    sizes = np.fromiter((len(c) for c in curves), dtype=np.int64, count=len(curves))
    if not curves:
        return segment_inputs(np.empty(0), np.empty(0), sizes, settings, min_points)
    return segment_inputs(np.concatenate([c.time for c in curves]),
                          np.concatenate([c.mag for c in curves]), sizes, settings, min_points)


def graph_classifier(onnx_path: str | Path, threads: int = 1) -> Classifier:
    """Serving's `Classifier` over an exported graph that has no model card beside it yet.

    `threads=0` lets onnxruntime use every core.
    """
    from broker_plugin.serving.classifier import Classifier

    return Classifier.from_graph(onnx_path, threads=threads)
