"""The period-free feature forest: the simplest honest baseline for the cross-survey table.

A random forest (scikit-learn) on the statistics of `training.classifier.summary` (the
magnitude distribution of the same featurised sequences the CNN sees, one definition for
both). A gain of the CNN that does not beat this forest on the same folds is not a gain of
the CNN. Class-balanced, so the majority survey-class (EROS RR Lyrae) does not dominate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from broker_plugin.features import FeatureSettings, featurise_batch
from broker_plugin.lightcurve import LightCurve
from training.classifier.summary import summary_statistics


def curve_statistics(curves: Sequence[LightCurve], settings: FeatureSettings) -> np.ndarray:
    """(N, k) statistics of the curves' (Δt, Δm) sequences under `settings`."""
    return summary_statistics(featurise_batch(curves, settings).x)


class FeatureForest:
    """fit on labelled curves, predict class probabilities over `classes` for any curves."""

    def __init__(self, classes: Sequence[str], settings: FeatureSettings | None = None,
                 n_estimators: int = 300, seed: int = 0, n_jobs: int = 1) -> None:
        from sklearn.ensemble import RandomForestClassifier

        self.classes = list(classes)
        self.settings = settings or FeatureSettings()
        self.model = RandomForestClassifier(
            n_estimators=n_estimators, min_samples_leaf=2, class_weight="balanced_subsample",
            random_state=seed, n_jobs=n_jobs)

    def fit(self, curves: Sequence[LightCurve]) -> FeatureForest:
        kept = [c for c in curves if c.label in self.classes]
        y = np.array([self.classes.index(c.label) for c in kept])
        self.model.fit(curve_statistics(kept, self.settings), y)
        return self

    def predict_proba(self, curves: Sequence[LightCurve]) -> np.ndarray:
        """(N, len(classes)) probabilities; a class absent from training gets 0."""
        raw = self.model.predict_proba(curve_statistics(curves, self.settings))
        out = np.zeros((len(curves), len(self.classes)))
        out[:, self.model.classes_] = raw
        return out
