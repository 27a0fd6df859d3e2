"""The induced-bias train/test splits of Pérez-Galarce et al. (2025), Data sets I and II.

A random forest on simple per-curve statistics (`curve_features`) gives each star
out-of-fold class probabilities p; its Gini impurity G = 1 - sum p^2 measures how hard the
star is. The star goes to training with probability exp(-G / T), else to testing, so the
test side is enriched in hard stars: a controlled covariate shift.
- scenario "rrlyr": binary RRLYR vs rest probabilities (Data set I, T = 1);
- scenario "multiclass": all classes (Data set II, T = 3).
Multi-band objects are decided once per object (features of its best-sampled band), so all
bands of a star land on the same side.

Output: SPLITDIR/train and SPLITDIR/test are light-curve directories whose manifests
reference the original photometry files by relative path (no copies), with extra columns
`gini` and `p_train`; `read_lightcurve_dir` reads them as long as the data directory stays
where it was relative to the split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from broker_plugin.errors import UserError
from broker_plugin.lightcurve_dir import MANIFEST, read_lightcurve_dir, read_manifest
from training.simulator.curve_features import curve_features

#: Scenario -> default temperature (the paper's values).
SCENARIOS: dict[str, float] = {"rrlyr": 1.0, "multiclass": 3.0}


class SplitError(UserError, ValueError):
    """A directory that cannot be split (no labels, a single class)."""


@dataclass(frozen=True)
class SplitResult:
    """The manifest with `gini`, `p_train` and `side` per row, plus the options used."""

    manifest: pl.DataFrame
    scenario: str
    temperature: float

    @property
    def train(self) -> pl.DataFrame:
        return self.manifest.filter(pl.col("side") == "train")

    @property
    def test(self) -> pl.DataFrame:
        return self.manifest.filter(pl.col("side") == "test")

    def class_counts(self) -> pl.DataFrame:
        """Objects per class and side (the paper's Table 1)."""
        objects = self.manifest.unique("object_id", keep="first", maintain_order=True)
        return (objects.group_by("label").agg(
            (pl.col("side") == "train").sum().alias("train"),
            (pl.col("side") == "test").sum().alias("test"),
        ).with_columns((pl.col("train") + pl.col("test")).alias("total")).sort("label"))

    def class_table(self) -> object:
        """A rich Table of `class_counts` with a total row."""
        from rich.table import Table

        counts = self.class_counts()
        table = Table(title=f"Induced-bias split: {self.scenario}, T = {self.temperature:g}")
        for name in ("class", "train", "test", "total"):
            table.add_column(name, justify="left" if name == "class" else "right")
        for row in counts.iter_rows(named=True):
            table.add_row(row["label"], str(row["train"]), str(row["test"]), str(row["total"]))
        table.add_row("all", str(counts["train"].sum()), str(counts["test"].sum()),
                      str(counts["total"].sum()), style="bold")
        return table

    def mann_whitney(self) -> list[dict[str, object]]:
        """Mann-Whitney U of period and amplitude, train vs test, overall and per class."""
        from scipy.stats import mannwhitneyu

        objects = self.manifest.unique("object_id", keep="first", maintain_order=True)
        rows = []
        for column in ("period", "amplitude"):
            if column not in objects.columns:
                continue
            for label in [None, *sorted(objects["label"].unique().to_list())]:
                sub = objects if label is None else objects.filter(pl.col("label") == label)
                a = sub.filter(pl.col("side") == "train")[column].drop_nulls().drop_nans()
                b = sub.filter(pl.col("side") == "test")[column].drop_nulls().drop_nans()
                if len(a) < 2 or len(b) < 2:
                    continue
                stat, p = mannwhitneyu(a.to_numpy(), b.to_numpy())
                rows.append({"variable": column, "class": label or "all", "n_train": len(a),
                             "n_test": len(b), "U": float(stat), "p": float(p)})
        return rows

    def tests_table(self) -> object:
        """A rich Table of `mann_whitney`."""
        from rich.table import Table

        table = Table(title="Mann-Whitney U, train vs test")
        for name in ("variable", "class", "n_train", "n_test", "U", "p-value"):
            table.add_column(name, justify="left" if name in ("variable", "class") else "right")
        for r in self.mann_whitney():
            table.add_row(str(r["variable"]), str(r["class"]), str(r["n_train"]),
                          str(r["n_test"]), f"{r['U']:.0f}", f"{r['p']:.3g}")
        return table


def gini_impurity(probabilities: np.ndarray) -> np.ndarray:
    """G = 1 - sum_k p_k^2 per row."""
    return 1.0 - np.sum(probabilities**2, axis=1)


def out_of_fold_probabilities(
    features: np.ndarray, targets: np.ndarray, seed: int, folds: int = 5, n_trees: int = 200
) -> np.ndarray:
    """Random-forest class probabilities, each star predicted by a forest that did not see it."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    smallest = int(np.min(np.unique(targets, return_counts=True)[1]))
    folds = max(2, min(folds, smallest))
    forest = RandomForestClassifier(n_estimators=n_trees, min_samples_leaf=2, random_state=seed,
                                    n_jobs=1)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(forest, features, targets, cv=cv, method="predict_proba")


def induced_bias_split(
    data: str | Path, scenario: str, temperature: float, seed: int = 0, n_trees: int = 200
) -> SplitResult:
    """Assign every object of a light-curve directory to train or test (see module doc)."""
    data = Path(data)
    manifest = read_manifest(data)
    if "label" not in manifest.columns or manifest["label"].null_count() == manifest.height:
        raise SplitError(f"{data / MANIFEST}: no 'label' column; the split needs labelled curves")
    curves = read_lightcurve_dir(data)
    features = np.nan_to_num(curve_features(curves), nan=0.0, posinf=0.0, neginf=0.0)
    objects = manifest["object_id"].to_numpy()
    sizes = np.array([len(c) for c in curves])
    # one representative row per object: its best-sampled band
    order = np.lexsort((-sizes, objects))
    first = np.ones(order.size, dtype=bool)
    first[1:] = objects[order][1:] != objects[order][:-1]
    rep = order[first]
    labels = manifest["label"].fill_null("?").to_numpy()[rep]
    targets = (labels == "RRLYR").astype(int) if scenario == "rrlyr" else labels
    if np.unique(targets).size < 2:
        raise SplitError(
            f"{data}: scenario {scenario!r} needs at least two classes"
            + (" (RRLYR and others)" if scenario == "rrlyr" else "")
        )
    proba = out_of_fold_probabilities(features[rep], targets, seed, n_trees=n_trees)
    gini = gini_impurity(proba)
    p_train = np.exp(-gini / temperature)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20250514]))
    to_train = rng.random(rep.size) < p_train
    per_object = pl.DataFrame({
        "object_id": objects[rep], "gini": gini, "p_train": p_train,
        "side": np.where(to_train, "train", "test"),
    })
    joined = manifest.with_row_index("_row").join(per_object, on="object_id", how="left")
    joined = joined.sort("_row").drop("_row")
    if "amplitude" not in joined.columns:
        amp_column = features[:, 3]
        joined = joined.with_columns(pl.Series("amplitude", amp_column))
    return SplitResult(joined, scenario, temperature)


def write_split(result: SplitResult, data: str | Path, out: str | Path) -> None:
    """Write OUT/train/manifest.csv and OUT/test/manifest.csv referencing DATA's files."""
    data, out = Path(data), Path(out)
    for side in ("train", "test"):
        target = out / side
        target.mkdir(parents=True, exist_ok=True)
        rel = os.path.relpath(data.resolve(), target.resolve())
        frame = result.manifest.filter(pl.col("side") == side).with_columns(
            (pl.lit(rel + "/") + pl.col("path")).alias("path")
        ).drop("side")
        frame.write_csv(target / MANIFEST)
