"""The latent regressor: physical parameters (model space) + class -> the encoder's μ.

Pérez-Galarce et al. (2025) replace the encoder at synthesis time by a multi-output random
forest, so that sampled physical parameters choose a latent code. It is fit and queried in
the same transformed space (`physical.to_model_space`), with the class one-hot appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: A small version of the paper's grid (trees, depth, leaf size), used with grid_search=True.
PARAM_GRID: dict[str, list[Any]] = {
    "n_estimators": [100, 300],
    "max_depth": [None, 10, 20],
    "min_samples_leaf": [1, 3, 5],
}


@dataclass
class RegressorReport:
    """Held-out quality: R² (uniform average over latent dims), MAE, and the mean-μ baseline."""

    r2: float
    mae: float
    baseline_mae: float
    n_train: int
    n_test: int
    best_params: dict[str, Any]


def regressor_inputs(model_params: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, 6 + n_classes): model-space parameters then the class one-hot."""
    onehot = np.eye(n_classes)[np.asarray(classes, dtype=np.int64)]
    return np.hstack([np.asarray(model_params, dtype=np.float64), onehot])


def fit_latent_regressor(
    inputs: np.ndarray,
    mu: np.ndarray,
    n_trees: int = 200,
    grid_search: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[Any, RegressorReport]:
    """Fit on a split, report held-out R² and MAE, then refit on everything for use."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.model_selection import GridSearchCV, train_test_split

    train_x, test_x, train_y, test_y = train_test_split(
        inputs, mu, test_size=test_fraction, random_state=seed
    )
    best: dict[str, Any] = {"n_estimators": n_trees}
    if grid_search:
        search = GridSearchCV(
            RandomForestRegressor(random_state=seed), PARAM_GRID, cv=3, scoring="r2", n_jobs=1
        )
        search.fit(train_x, train_y)
        best = dict(search.best_params_)
    model = RandomForestRegressor(random_state=seed, n_jobs=1, **best).fit(train_x, train_y)
    predicted = model.predict(test_x)
    report = RegressorReport(
        r2=float(r2_score(test_y, predicted)),
        mae=float(mean_absolute_error(test_y, predicted)),
        baseline_mae=float(np.mean(np.abs(test_y - train_y.mean(axis=0)))),
        n_train=int(train_x.shape[0]),
        n_test=int(test_x.shape[0]),
        best_params=best,
    )
    final = RandomForestRegressor(random_state=seed, n_jobs=1, **best).fit(inputs, mu)
    return final, report
