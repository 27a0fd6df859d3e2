"""A fitted scikit-learn random forest as one ONNX TreeEnsembleClassifier node (ai.onnx.ml).

Why: the unknown score that measured best across surveys is a forest on the in-graph
summary statistics (calibration.py), and serving runs only the ONNX graph (no scikit-learn
in the plugin). onnxruntime executes the standard ai.onnx.ml tree operator natively, so the
forest travels inside model.onnx and serving does not change.

Parity: scikit-learn casts inputs to float32 and compares `x <= threshold` against a
float64 threshold; ONNX stores float32 thresholds. Rounding each threshold *down* to the
largest float32 not above it keeps every comparison identical, so graph and scikit-learn
agree to float rounding of the averaged leaf values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import helper

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3


@dataclass
class TreeTables:
    """The node and leaf tables of a forest, in the layout of the ONNX attributes."""

    tree_ids: np.ndarray
    node_ids: np.ndarray
    feature_ids: np.ndarray
    modes: list[str]
    thresholds: np.ndarray
    true_ids: np.ndarray
    false_ids: np.ndarray
    leaf_tree_ids: np.ndarray
    leaf_node_ids: np.ndarray
    leaf_class_ids: np.ndarray
    leaf_weights: np.ndarray
    n_classes: int

    def attributes(self) -> dict[str, Any]:
        return {
            "classlabels_int64s": list(range(self.n_classes)),
            "nodes_treeids": self.tree_ids.tolist(),
            "nodes_nodeids": self.node_ids.tolist(),
            "nodes_featureids": self.feature_ids.tolist(),
            "nodes_modes": self.modes,
            "nodes_values": self.thresholds.astype(np.float32).tolist(),
            "nodes_truenodeids": self.true_ids.tolist(),
            "nodes_falsenodeids": self.false_ids.tolist(),
            "class_treeids": self.leaf_tree_ids.tolist(),
            "class_nodeids": self.leaf_node_ids.tolist(),
            "class_ids": self.leaf_class_ids.tolist(),
            "class_weights": self.leaf_weights.astype(np.float32).tolist(),
            "post_transform": "NONE",
        }


def _threshold_down(threshold: np.ndarray) -> np.ndarray:
    """Largest float32 ≤ each float64 threshold (see the module docstring)."""
    as32 = threshold.astype(np.float32)
    above = as32.astype(np.float64) > threshold
    as32[above] = np.nextafter(as32[above], np.float32(-np.inf))
    return as32


def forest_tables(forest: Any) -> TreeTables:
    """Tables of a fitted RandomForestClassifier/ExtraTreesClassifier (single output).

    Leaf weights are each leaf's class shares divided by the number of trees, so the
    operator's sum over trees is scikit-learn's `predict_proba` (columns in `classes_`
    order)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (
        "tree", "node", "feature", "leaf", "threshold", "true", "false",
        "ltree", "lnode", "lclass", "lweight")}
    n_classes = len(forest.classes_)
    n_trees = len(forest.estimators_)
    for t, estimator in enumerate(forest.estimators_):
        tree = estimator.tree_
        n = tree.node_count
        left, right = tree.children_left, tree.children_right
        leaf = left < 0
        parts["tree"].append(np.full(n, t, np.int64))
        parts["node"].append(np.arange(n, dtype=np.int64))
        parts["feature"].append(np.where(leaf, 0, tree.feature).astype(np.int64))
        parts["leaf"].append(leaf)
        parts["threshold"].append(np.where(leaf, 0.0, _threshold_down(tree.threshold)))
        parts["true"].append(np.where(leaf, 0, left).astype(np.int64))
        parts["false"].append(np.where(leaf, 0, right).astype(np.int64))
        values = tree.value[:, 0, :].astype(np.float64)
        shares = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-300)
        # Only non-zero shares: most leaves hold one or two classes, and the operator adds
        # nothing for a class a leaf does not list.
        node_of, class_of = np.nonzero(shares * leaf[:, None])
        parts["ltree"].append(np.full(len(node_of), t, np.int64))
        parts["lnode"].append(node_of.astype(np.int64))
        parts["lclass"].append(class_of.astype(np.int64))
        parts["lweight"].append(shares[node_of, class_of] / n_trees)
    leaf_mask = np.concatenate(parts["leaf"])
    return TreeTables(
        tree_ids=np.concatenate(parts["tree"]), node_ids=np.concatenate(parts["node"]),
        feature_ids=np.concatenate(parts["feature"]),
        modes=["LEAF" if m else "BRANCH_LEQ" for m in leaf_mask],
        thresholds=np.concatenate(parts["threshold"]),
        true_ids=np.concatenate(parts["true"]), false_ids=np.concatenate(parts["false"]),
        leaf_tree_ids=np.concatenate(parts["ltree"]),
        leaf_node_ids=np.concatenate(parts["lnode"]),
        leaf_class_ids=np.concatenate(parts["lclass"]),
        leaf_weights=np.concatenate(parts["lweight"]), n_classes=n_classes)


def forest_node(tables: TreeTables, features: str, labels: str, probabilities: str,
                name: str) -> Any:
    """The TreeEnsembleClassifier node: `features` (N, k) float → `probabilities` (N, C)."""
    return helper.make_node("TreeEnsembleClassifier", [features], [labels, probabilities],
                            domain=ML_DOMAIN, name=name, **tables.attributes())
