"""Leave one survey out: the figure that counts for a plugin meeting a survey it never saw.

For each survey S among the real curves (the `survey` column): train on every other
survey's labelled curves (plus any extra curves, e.g. simulated ones, which are never
tested), test on S's labelled curves, on all their points and on their first 100, 40 and
20 (what a young object's alerts carry). Each method (a CNN recipe, the feature forest)
is trained on exactly the same fold. Metrics per fold and truncation: macro F1 over our
classes present among the true or predicted labels, per-class recall, ROC-AUC OVO where
two or more classes are present; and pooled over every left-out curve.

Predictions may include an "other" answer (UPSILoN's non-five classes): it counts as a
miss, never as a class of the F1 average.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.lightcurve import CLASSES, LightCurve
from training.classifier.metrics import confusion, roc_auc
from training.crosssurvey.truncate import truncate_all

#: A fitted method: curves → (N, len(CLASSES)) probabilities.
Predictor = Callable[[Sequence[LightCurve]], np.ndarray]
#: A method: (training curves, fold name) → fitted predictor.
Method = Callable[[Sequence[LightCurve], str], Predictor]
TRUNCATIONS: tuple[int, ...] = (0, 100, 40, 20)


def survey_of(curve: LightCurve) -> str:
    return curve.survey or "unknown"


def labelled(curves: Sequence[LightCurve]) -> list[LightCurve]:
    return [c for c in curves if c.label in CLASSES]


def surveys_with_labels(curves: Sequence[LightCurve]) -> list[str]:
    """Surveys that have at least one curve of our classes, largest first."""
    counts = Counter(survey_of(c) for c in labelled(curves))
    return [s for s, _ in counts.most_common()]


def cap_per_group(curves: Sequence[LightCurve], limit: int, seed: int,
                  key: Callable[[LightCurve], tuple] = lambda c: (survey_of(c), c.label),
                  ) -> list[LightCurve]:
    """About `limit` curves per group (default: survey and label), seeded; 0 = all.

    Whole objects are drawn, so all bands of a multi-band star stay on one side of a split
    (a group may end a few curves over the limit).
    """
    if limit <= 0:
        return list(curves)
    groups: dict[tuple, dict[str, list[int]]] = {}
    for i, c in enumerate(curves):
        groups.setdefault(key(c), {}).setdefault(c.object_id, []).append(i)
    keep: list[int] = []
    for group, objects in groups.items():
        # One generator per group, seeded by its name: a group gives the same draw in every
        # fold, whatever other groups the fold holds (and a smaller limit a prefix of it).
        name = "|".join(str(part) for part in group).encode()
        rng = np.random.default_rng([seed, int.from_bytes(hashlib.sha256(name).digest()[:8])])
        ids = sorted(objects)
        taken = 0
        for j in rng.permutation(len(ids)):
            if taken >= limit:
                break
            keep += objects[ids[j]]
            taken += len(objects[ids[j]])
    return [curves[i] for i in sorted(keep)]


@dataclass
class Fold:
    left_out: str
    train: list[LightCurve]
    test: list[LightCurve]


def make_folds(curves: Sequence[LightCurve], surveys: Sequence[str] | None = None,
               max_train_per_group: int = 0, max_test_per_class: int = 0,
               seed: int = 0) -> list[Fold]:
    """One fold per survey: train on the others' labelled curves, test on its own."""
    curves = labelled(curves)
    folds = []
    for survey in surveys or surveys_with_labels(curves):
        train = cap_per_group([c for c in curves if survey_of(c) != survey],
                              max_train_per_group, seed)
        test = cap_per_group([c for c in curves if survey_of(c) == survey],
                             max_test_per_class, seed, key=lambda c: (c.label,))
        if test:
            folds.append(Fold(survey, train, test))
    return folds


def score(y_true: np.ndarray, probabilities: np.ndarray | None, predicted: np.ndarray,
          classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """Metrics of one column on one set; `predicted` may hold len(classes) for "other"."""
    k = len(classes)
    cm = confusion(y_true, predicted, k + 1)[:k]
    tp = np.diag(cm[:, :k]).astype(float)
    support, predicted_count = cm.sum(axis=1), cm[:, :k].sum(axis=0)
    present = (support + predicted_count) > 0
    f1 = np.divide(2 * tp, support + predicted_count, out=np.zeros(k), where=present)
    result: dict[str, Any] = {
        "n": len(y_true),
        "macro_f1": float(f1[present].mean()) if present.any() else None,
        "accuracy": float(np.mean(predicted == y_true)) if len(y_true) else None,
        "recall": {classes[i]: float(cm[i, i] / support[i]) for i in range(k) if support[i]},
        "predicted": {name: int(n) for name, n in
                      zip([*classes, "OTHER"], cm.sum(axis=0), strict=True) if n},
        "roc_auc_ovo": None,
    }
    if probabilities is not None:
        result["roc_auc_ovo"] = roc_auc(y_true, probabilities)["roc_auc_ovo"]
    return result


@dataclass
class Predictions:
    """Everything one method said about one fold's test curves, per truncation."""

    method: str
    left_out: str
    truncate: int
    y_true: np.ndarray
    probabilities: np.ndarray | None
    predicted: np.ndarray
    ids: list[tuple[str, str | None]] = field(default_factory=list)


def run_folds(folds: Sequence[Fold], methods: dict[str, Method],
              extra_train: Sequence[LightCurve] = (),
              truncations: Sequence[int] = TRUNCATIONS,
              say: Callable[[str], None] = lambda m: None,
              cache: Path | None = None) -> list[Predictions]:
    """Fit every method on every fold (plus `extra_train`), predict every truncation.

    With `cache`, each (method, fold)'s probabilities are kept in CACHE/<method>/<fold>.npz
    and reused, so a long benchmark that stops half-way resumes where it was (delete the
    folder after changing a method).
    """
    out = []
    for fold in folds:
        train = [*fold.train, *extra_train]
        y_true = np.array([CLASSES.index(c.label) for c in fold.test])
        ids = [(c.object_id, c.band) for c in fold.test]
        for name, method in methods.items():
            stored = None if cache is None else cache / name / f"{safe_name(fold.left_out)}.npz"
            if stored is not None and stored.is_file():
                saved = np.load(stored)
                found = {int(k[1:]): saved[k] for k in saved.files}
            else:
                say(f"{fold.left_out}: fitting {name} on {len(train)} curves "
                    f"({len(fold.train)} real), testing on {len(fold.test)}")
                predictor = method(train, fold.left_out)
                found = {n: predictor(truncate_all(fold.test, n)) for n in truncations}
                if stored is not None:
                    stored.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(stored, **{f"t{n}": p for n, p in found.items()})
            for n in truncations:
                p = found[n]
                out.append(Predictions(name, fold.left_out, n, y_true, p, p.argmax(axis=1),
                                       ids))
    return out


def over_classes(probabilities: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """A model's (N, len(classes)) probabilities as (N, len(CLASSES)) columns in our order,
    0 for a class the model does not know, so every method of the table lines up."""
    classes = list(classes)
    index = [classes.index(c) if c in classes else -1 for c in CLASSES]
    return np.stack([probabilities[:, i] if i >= 0 else np.zeros(len(probabilities))
                     for i in index], axis=1)


def blend(predictions: Sequence[Predictions], name: str, parts: dict[str, float],
          ) -> list[Predictions]:
    """A weighted mean of several methods' probabilities on the same folds (an ensemble of
    seeds, or the CNN beside the feature forest), as method `name`; folds or truncations
    that some part lacks are left out."""
    found = {(p.method, p.left_out, p.truncate): p for p in predictions}
    total = sum(parts.values())
    out = []
    for left_out, n in dict.fromkeys((p.left_out, p.truncate) for p in predictions):
        members = [found.get((m, left_out, n)) for m in parts]
        if any(m is None or m.probabilities is None for m in members):
            continue
        mixed = sum(w * m.probabilities for w, m in zip(parts.values(), members, strict=True)
                    ) / total  # type: ignore[union-attr]
        first = members[0]
        out.append(Predictions(name, left_out, n, first.y_true, mixed, mixed.argmax(axis=1),
                               first.ids))  # type: ignore[union-attr]
    return out


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def table(predictions: Sequence[Predictions]) -> list[dict[str, Any]]:
    """One row per (method, left-out survey, truncation), plus pooled rows (`left_out` ALL)."""
    rows = []
    pooled: dict[tuple[str, int], list[Predictions]] = {}
    for p in predictions:
        rows.append({"method": p.method, "left_out": p.left_out, "truncate": p.truncate,
                     **score(p.y_true, p.probabilities, p.predicted)})
        pooled.setdefault((p.method, p.truncate), []).append(p)
    for (method, n), parts in pooled.items():
        y = np.concatenate([p.y_true for p in parts])
        pred = np.concatenate([p.predicted for p in parts])
        probs = ([p.probabilities for p in parts]
                 if all(p.probabilities is not None for p in parts) else None)
        rows.append({"method": method, "left_out": "ALL", "truncate": n,
                     **score(y, None if probs is None else np.concatenate(probs), pred)})
    return rows
