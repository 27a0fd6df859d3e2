"""Which unknown score? Candidates compared on leave-one-survey-out fold models.

For each fold model of `bench/loso.py` (WORKDIR/runs/cnnsum_all/<survey>, a one-member
summary-statistics CNN), scores the left-out survey's other-class stars (unlabelled, with
`source_class`) against its in-class stars: max-softmax (msp), entropy, energy and max
logit on the network's logits, Mahalanobis distance to class centroids (shared covariance)
in the penultimate embedding and on the scaled summary statistics, fitted on the fold's
training rows (maha_*) or on 20 labelled curves per class of the left-out survey (tmaha_*,
those curves then left out of the test), and the deep-kNN cosine distance in the embedding
(knn_emb: 5th neighbour among 3,000 training rows). AUROC per fold and per source class
(20+ stars), JSON to WORKDIR/unknown_scores.json.

Usage: python bench/unknown_scores.py WORKDIR [SURVEY ...]   (default: CRTS Hipparcos)
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_plugin.features import featurise_batch  # noqa: E402
from broker_plugin.lightcurve import CLASSES, LightCurve  # noqa: E402
from broker_plugin.model_card import load_model_dir  # noqa: E402
from broker_plugin.model_inputs import classifiable  # noqa: E402
from training.classifier.calibrate import run_graph, split_of_run  # noqa: E402
from training.classifier.data import load_curves  # noqa: E402
from training.classifier.evaluate import source_class_of  # noqa: E402
from training.crosssurvey.loso import survey_of  # noqa: E402
from training.crosssurvey.shared_sets import SET_NAMES  # noqa: E402

EMBEDDING = "/members.0/head/head.2/Relu_output_0"
LOGITS = "/members.0/head/head.3/Gemm_output_0"
STATS = "/members.0/summary_scaling/Div_output_0"


def outputs(model_dir: Path, curves: list[LightCurve]) -> tuple[dict[str, np.ndarray], list]:
    """Probabilities, logits, embedding and scaled statistics of the usable curves."""
    import onnx

    _, card = load_model_dir(model_dir)
    model = onnx.load(str(model_dir / "model.onnx"))
    names = {o for n in model.graph.node for o in n.output}
    extra = [e for e in (EMBEDDING, LOGITS, STATS) if e in names]
    batch = featurise_batch(curves, card.features)
    keep = classifiable(batch.lengths, card.min_points)
    values = run_graph(model, batch.x[keep], extra)
    result = dict(zip(["probabilities", *extra], values, strict=True))
    return {k: v.astype(np.float64) for k, v in result.items()}, [
        c for c, k in zip(curves, keep, strict=True) if k]


def mahalanobis_fit(z: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    classes = [k for k in np.unique(y) if (y == k).sum() >= 3]
    means = np.stack([z[y == k].mean(0) for k in classes])
    residual = np.concatenate([z[y == k] - z[y == k].mean(0) for k in classes])
    cov = np.cov(residual.T, bias=True)
    d = z.shape[1]
    return means, np.linalg.pinv(cov + ridge * np.eye(d) * np.trace(cov) / d)


def mahalanobis(z: np.ndarray, fit: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    means, precision = fit
    return np.stack([np.einsum("ij,jk,ik->i", z - m, precision, z - m) for m in means], 1).min(1)


def knn(z: np.ndarray, bank: np.ndarray, k: int = 5) -> np.ndarray:
    unit = z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-9)
    return 1 - np.sort(unit @ bank.T, 1)[:, -k]


def scores(out: dict[str, np.ndarray], fits: dict[str, Any], bank: np.ndarray | None
           ) -> dict[str, np.ndarray]:
    p = out["probabilities"]
    s = {"msp": 1 - p.max(1), "entropy": -(p * np.log(np.clip(p, 1e-12, 1))).sum(1)}
    if LOGITS in out:
        z = out[LOGITS]
        top = z.max(1)
        s["energy"] = -np.log(np.exp(z - top[:, None]).sum(1)) - top
        s["maxlogit"] = -top
    for name, fit in fits.items():
        tensor = EMBEDDING if "emb" in name else STATS
        s[name] = mahalanobis(out[tensor], fit)
    if bank is not None:
        s["knn_emb"] = knn(out[EMBEDDING], bank)
    return s


def auroc(inside: np.ndarray, other: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(inside.size), np.ones(other.size)]
    return round(float(roc_auc_score(y, np.r_[inside, other])), 3)


def fold(work: Path, survey: str, curves: list[LightCurve]) -> dict[str, Any]:
    run = work / "runs" / "cnnsum_all" / survey
    pool = [c for c in curves if survey_of(c) != survey and c.label in CLASSES]
    train, _ = split_of_run(run, pool)
    test_in = [c for c in curves if survey_of(c) == survey and c.label in CLASSES]
    test_out = [c for c in curves if survey_of(c) == survey and not c.label]
    tr, train = outputs(run, train)
    ti, test_in = outputs(run, test_in)
    to, test_out = outputs(run, test_out)
    y_train = np.array([CLASSES.index(c.label) for c in train])
    y_test = np.array([CLASSES.index(c.label) for c in test_in])
    rng = np.random.default_rng(0)
    pick = np.zeros(len(y_test), bool)
    for k in range(len(CLASSES)):
        pick[rng.permutation(np.flatnonzero(y_test == k))[:20]] = True
    fits = {}
    for name, tensor in (("emb", EMBEDDING), ("stats", STATS)):
        if tensor in tr:
            fits[f"maha_{name}"] = mahalanobis_fit(tr[tensor], y_train, 1e-3)
            fits[f"tmaha_{name}"] = mahalanobis_fit(ti[tensor][pick], y_test[pick], 0.1)
    reference = tr[EMBEDDING][rng.permutation(len(y_train))[:3000]]
    bank = reference / np.linalg.norm(reference, axis=1, keepdims=True).clip(1e-9)
    inside = scores({k: v[~pick] for k, v in ti.items()}, fits, bank)
    other = scores(to, fits, bank)
    result: dict[str, Any] = {"n_in": int((~pick).sum()), "n_out": len(test_out)}
    result.update({name: auroc(inside[name], other[name]) for name in inside})
    source = np.array([source_class_of(c) for c in test_out], dtype=object)
    result["per_source_class"] = {
        cls: {"n": n, **{name: auroc(inside[name], other[name][source == cls])
                         for name in inside}}
        for cls, n in Counter(source.tolist()).most_common() if n >= 20}
    return result


def main() -> None:
    work = Path(sys.argv[1])
    surveys = sys.argv[2:] or ["CRTS", "Hipparcos"]
    curves = [c for name in SET_NAMES if (work / "sets" / name).is_dir()
              for c in load_curves(work / "sets" / name)]
    results = {}
    for survey in surveys:
        results[survey] = fold(work, survey, curves)
        print(survey, json.dumps({k: v for k, v in results[survey].items()
                                  if k != "per_source_class"}), flush=True)
    (work / "unknown_scores.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
