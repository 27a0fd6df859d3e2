"""The unknown score as a forest on the in-graph summary statistics, with outlier exposure.

Why: on the leave-one-survey-out folds, the network's own confidence and its embedding
distances separated real stars of other classes (RS CVn, ellipsoidals, type II and
anomalous Cepheids, β Cephei, γ Dor, supergiants…) from our five classes barely better than
chance on a new survey (deep-kNN AUROC 0.55 on Catalina): a CNN is confidently wrong off its
training manifold. A random forest on the period-free statistics of the magnitude
distribution and the structure function (summary.py) averages many coarse votes, so it is
unsure where its training data are thin, and it can be *shown* what "none of these" looks
like: the training surveys' catalogued stars of other classes form a sixth class (outlier
exposure, Hendrycks et al. 2019). The score is 1 − (largest in-class probability), so a
curve far from every known class scores high whether or not it resembles a shown outlier.

The forest reads the statistics that the network itself computes from its input (the
tensor entering the first member's summary scaling), so it needs no new input and travels
in the ONNX graph as one ai.onnx.ml TreeEnsembleClassifier node (tree_onnx.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from training.classifier.tree_onnx import TreeTables, forest_node, forest_tables

#: Trees, smallest leaf, and rows drawn for each tree: the graph grows with the rows a tree
#: sees (12,000 rows: ~13 MB for 100 trees), so each tree draws at most MAX_SAMPLES of them
#: (~3 MB in all, whatever the training size; the shipped model stays under 10 MB).
DEFAULT_TREES = 100
MIN_SAMPLES_LEAF = 3
MAX_SAMPLES = 2000
#: Most other-class rows shown to the forest (the rest would only grow the graph).
MAX_OTHER_ROWS = 3000
SCORE_NAME = "forest_summary_statistics"


def summary_tensor(model: onnx.ModelProto) -> str | None:
    """Name of the first member's raw summary statistics in `model` (None without them)."""
    for node in model.graph.node:
        if node.name.endswith("summary_scaling/Sub"):
            return str(node.input[0])
    return None


@dataclass
class UnknownForest:
    """A fitted forest over len(classes) in-class columns plus, if shown, one "other" column."""

    tables: TreeTables | None
    in_class_columns: np.ndarray
    n_trees: int
    n_other: int
    #: The scikit-learn forest, for the numpy twin of the graph (absent when re-used).
    model: Any = field(default=None, repr=False)
    #: The node of an existing graph, when a re-calibration keeps the forest as it is.
    node: onnx.NodeProto | None = field(default=None, repr=False)

    def graph_node(self, features: str, probabilities: str, name: str) -> onnx.NodeProto:
        """The TreeEnsembleClassifier node reading `features`, writing `probabilities`."""
        if self.tables is not None:
            return forest_node(self.tables, features, probabilities + "_label", probabilities,
                               name)
        assert self.node is not None
        node = onnx.NodeProto()
        node.CopyFrom(self.node)
        node.input[0], node.output[1], node.name = features, probabilities, name
        return node

    @classmethod
    def from_graph(cls, model: onnx.ModelProto, node_name: str, columns_name: str,
                   card_entry: dict[str, Any]) -> UnknownForest | None:
        """The forest of a model's current tail, re-usable as is (None if it has none)."""
        from onnx import numpy_helper

        node = next((n for n in model.graph.node if n.name == node_name), None)
        columns = next((i for i in model.graph.initializer if i.name == columns_name), None)
        if node is None or columns is None:
            return None
        return cls(None, numpy_helper.to_array(columns), int(card_entry.get("trees", 0)),
                   int(card_entry.get("other_class_curves", 0)), node=node)

    def scores(self, statistics: np.ndarray) -> np.ndarray:
        """1 − largest in-class probability (the graph's unknown_score)."""
        probabilities = self.model.predict_proba(np.asarray(statistics, np.float32))
        return 1.0 - probabilities[:, self.in_class_columns].max(axis=1)

    def card_entry(self) -> dict[str, Any]:
        return {"score": SCORE_NAME, "trees": self.n_trees, "other_class_curves": self.n_other,
                "min_samples_leaf": MIN_SAMPLES_LEAF, "rows_per_tree": MAX_SAMPLES}


def fit_unknown_forest(statistics: np.ndarray, labels: np.ndarray, n_classes: int,
                       other_statistics: np.ndarray | None = None, seed: int = 0,
                       trees: int = DEFAULT_TREES) -> UnknownForest:
    """Fit on in-class rows (labels 0..n_classes−1) and other-class rows (label n_classes).

    Class-balanced, so neither the largest class nor the outliers dominate the votes."""
    from sklearn.ensemble import RandomForestClassifier

    x = np.asarray(statistics, np.float32)
    y = np.asarray(labels, np.int64)
    n_other = 0
    if other_statistics is not None and len(other_statistics):
        rng = np.random.default_rng([seed, 31])
        other = np.asarray(other_statistics, np.float32)
        if len(other) > MAX_OTHER_ROWS:
            other = other[rng.choice(len(other), MAX_OTHER_ROWS, replace=False)]
        n_other = len(other)
        x = np.concatenate([x, other])
        y = np.concatenate([y, np.full(n_other, n_classes, np.int64)])
    forest = RandomForestClassifier(trees, min_samples_leaf=MIN_SAMPLES_LEAF,
                                    max_samples=min(MAX_SAMPLES, len(x)),
                                    class_weight="balanced_subsample", random_state=seed,
                                    n_jobs=1).fit(x, y)
    in_class = np.flatnonzero(forest.classes_ < n_classes)
    return UnknownForest(forest_tables(forest), in_class, trees, n_other, forest)
