"""`training experiment`: one-loss vs two-losses on the same repeated holdouts (paper Table 5).

For each repeat k = 0..K−1 (seed k everywhere):
1. holdout: the scenario splits the stars into a training pool and a test set — `random`
   (stratified 70/30) or the paper's induced-bias splits `rrlyr` / `multiclass`
   (training.simulator's make-split: Gini impurity of a random forest, a star goes to
   training with probability exp(−G/T));
   The induced-bias scenarios keep the task multi-class; only the split differs (rrlyr:
   RRLYR-vs-rest forest, T = 1; multiclass: all classes, T = 3);
2. the pool is split into train/validation (stratified, seed k);
3. one generator is fitted on the train part (shared by the two-losses run of this repeat);
4. both modes train with the same config and seed, and are scored on the test set; or each
   mode with its own tuned config (`mode_configs`, the CLI's `--one-loss-config` and
   `--two-losses-config`, e.g. `training tune`'s best files), so that the baseline gets
   its own search too: the split, the augmented views and the generator stay shared.
The table gives mean, min and max of macro F1, ROC-AUC OVO and OVR per mode, and two-sided
Mann–Whitney U and Welch t-test p-values between the modes.

`--vary AXIS` repeats all of it for each value of one of the paper's axes (`VARY`: the five
policies of Table 3, the three losses of Table 4 on both masks, the signal-to-noise cuts of
Table 5 on the training pool, the sequence lengths of Table 6), each value in its own
folder, with one row per value in `vary.json`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.errors import UserError
from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import LightCurve
from training.classifier.augment import attach_views
from training.classifier.data import (
    SyntheticSource,
    classes_in,
    featurise_labelled,
    load_curves,
    stratified_split,
)
from training.classifier.snr import above_snr
from training.config import LOSSES, POLICIES, TrainingConfig

SCENARIOS = ("random", "rrlyr", "multiclass")
#: The paper's axes (Tables 3–6) and their values, for `--vary`.
VARY: dict[str, tuple[Any, ...]] = {
    "policy": POLICIES,
    "loss": LOSSES,
    "snr": (4.0, 6.0, 8.0, 10.0),
    "seq-length": (50, 150, 300),
}
METRICS = ("macro_f1", "roc_auc_ovo", "roc_auc_ovr")
MODES = ("one-loss", "two-losses")


class ExperimentError(UserError, ValueError):
    """An experiment that cannot run as asked."""


def holdout(
    curves: Sequence[LightCurve], scenario: str, seed: int, data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(training-pool index, test index) into `curves` for one repeat.

    For the induced-bias scenarios `curves` must be `data_dir` read in manifest order
    (training.simulator.split works on the directory).
    """
    if scenario == "random":
        labels = np.array([c.label or "" for c in curves])
        _, codes = np.unique(labels, return_inverse=True)
        return stratified_split(codes, 0.3, seed)
    if scenario in ("rrlyr", "multiclass"):
        try:
            from training.simulator.split import SCENARIOS as TEMPERATURES
            from training.simulator.split import induced_bias_split
        except ImportError:
            raise ExperimentError(
                f"--split-scenario {scenario} needs training.simulator.split "
                "(the induced-bias make-split), which is not installed; use random"
            ) from None
        result = induced_bias_split(data_dir, scenario, TEMPERATURES[scenario], seed=seed)
        side = result.manifest["side"].to_numpy()
        if side.size != len(curves):
            raise ExperimentError(f"{data_dir}: split has {side.size} rows for {len(curves)} "
                                  "curves; the manifest changed while reading")
        return np.flatnonzero(side == "train"), np.flatnonzero(side == "test")
    raise ExperimentError(f"unknown --split-scenario {scenario!r}; use {', '.join(SCENARIOS)}")


def run_experiment(
    data_dir: str | Path,
    out_dir: str | Path,
    config: TrainingConfig,
    scenario: str,
    repeats: int,
    settings: FeatureSettings | None = None,
    progress: bool = True,
    make_source: Any = None,
    mode_configs: dict[str, TrainingConfig] | None = None,
) -> dict[str, Any]:
    """Run the repeats; write OUT/experiment.json; return it.

    Each repeat trains one model per mode (`ensemble_members` is set to 1): the table compares
    the methods, and K-member ensembles would cost K times as long for the same comparison.
    `make_source(train_curves, classes, settings, config) -> SyntheticSource` defaults to
    fitting a PELS-VAE (tests pass a fake).
    """
    from training.classifier.metrics import summary
    from training.classifier.run import generator_source
    from training.classifier.trainer import predict_probabilities, train_classifier

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = settings or config.feature_settings()
    config = replace(config, ensemble_members=1)
    per_mode = checked_mode_configs(config, mode_configs or {})
    if scenario not in SCENARIOS:
        raise ExperimentError(
            f"unknown --split-scenario {scenario!r}; use {', '.join(SCENARIOS)}")
    # Induced-bias splits work on the whole directory, so no per-class subsampling there.
    limit = config.max_curves_per_class if scenario == "random" else 0
    curves = load_curves(data_dir, limit, config.seed)
    classes = classes_in(curves)
    runs: list[dict[str, Any]] = []
    for k in range(repeats):
        pool_index, test_index = holdout(curves, scenario, seed=k, data_dir=data_dir)
        pool = above_snr([curves[i] for i in pool_index], config.min_snr)  # training data only
        test = featurise_labelled([curves[i] for i in test_index], classes, settings,
                                  config.min_points)
        data = featurise_labelled(pool, classes, settings, config.min_points)
        train_index, val_index = stratified_split(data.y, config.validation_fraction, k)
        train, val = data.subset(train_index), data.subset(val_index)
        train_curves = [pool[i] for i in train.source_index]  # type: ignore[union-attr]
        attach_views(train, train_curves, config, settings, k)
        source: SyntheticSource
        if make_source is None:
            source = generator_source(None, train_curves, classes, settings,
                                      replace(config, mode="two-losses"),
                                      out_dir / f"repeat{k}", progress)
        else:
            source = make_source(train_curves, classes, settings, config)
        for mode in MODES:
            run_config = replace(per_mode[mode], mode=mode, seed=config.seed + k)
            result = train_classifier(train, val, run_config,
                                      source=source if mode == "two-losses" else None,
                                      progress=progress, settings=settings)
            scores = summary(test.y, predict_probabilities(result.model, test.x), classes)
            runs.append({"repeat": k, "mode": mode, "n_train": len(train), "n_test": len(test),
                         "seconds_per_epoch": result.seconds_per_epoch,
                         "best_epoch": result.best_epoch,
                         **{m: scores[m] for m in METRICS},
                         "per_class_recall": scores["per_class_recall"]})
            _save(out_dir, scenario, repeats, config, runs, per_mode)
    return _save(out_dir, scenario, repeats, config, runs, per_mode)


def checked_mode_configs(config: TrainingConfig, mode_configs: dict[str, TrainingConfig],
                         ) -> dict[str, TrainingConfig]:
    """Each mode's config (the shared one where none is given), single models; refused where
    a given one's feature settings differ from the shared config's, since both modes are
    scored on sequences featurised once."""
    unknown = sorted(set(mode_configs) - set(MODES))
    if unknown:
        raise ExperimentError(f"mode config for {', '.join(unknown)}: use {' or '.join(MODES)}")
    out = {}
    for mode in MODES:
        own = replace(mode_configs.get(mode, config), ensemble_members=1)
        if own.feature_settings() != config.feature_settings():
            raise ExperimentError(
                f"the {mode} config's feature settings ({own.feature_settings().to_dict()}) "
                f"differ from the experiment's ({config.feature_settings().to_dict()}); tune "
                "both modes with the same sequence length and pair filters, or set them alike")
        out[mode] = own
    return out


def _save(out_dir: Path, scenario: str, repeats: int, config: TrainingConfig,
          runs: list[dict[str, Any]],
          per_mode: dict[str, TrainingConfig] | None = None) -> dict[str, Any]:
    shared = config.to_dict()
    result = {"scenario": scenario, "repeats": repeats, "config": shared,
              "mode_config_changes": {  # the mode itself is the key, not a change
                  mode: {k: v for k, v in c.to_dict().items()
                         if k != "mode" and shared.get(k) != v}
                  for mode, c in (per_mode or {}).items()},
              "runs": runs, "table": compare(runs)}
    (out_dir / "experiment.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric: mean/min/max per mode and the two p-values between modes."""
    from scipy import stats

    table: dict[str, Any] = {}
    for metric in METRICS:
        values = {mode: np.array([r[metric] for r in runs if r["mode"] == mode
                                  and r[metric] is not None], dtype=float) for mode in MODES}
        row: dict[str, Any] = {
            mode: ({"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max()),
                    "n": int(v.size)} if v.size else None)
            for mode, v in values.items()
        }
        a, b = values["one-loss"], values["two-losses"]
        if a.size >= 2 and b.size >= 2 and np.ptp(np.concatenate([a, b])) > 0:
            row["mann_whitney_p"] = float(stats.mannwhitneyu(a, b,
                                                             alternative="two-sided").pvalue)
            row["t_test_p"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        else:
            row["mann_whitney_p"] = row["t_test_p"] = None
        table[metric] = row
    return table


def experiment_table(result: dict[str, Any]):
    """The paper's Table 5 layout: metric × mode with mean [min, max] and p-values."""
    from rich.table import Table

    table = Table(title=f"{result['scenario']} split, {result['repeats']} repeats")
    for column in ("metric", *MODES, "Mann–Whitney p", "t-test p"):
        table.add_column(column, justify="right")

    for metric, row in result["table"].items():
        table.add_row(metric, *(_cell(row[m]) for m in MODES), _p(row["mann_whitney_p"]),
                      _p(row["t_test_p"]))
    return table


def _cell(stats_: dict[str, Any] | None) -> str:
    if not stats_:
        return "n/a"
    return f"{stats_['mean']:.3f} [{stats_['min']:.3f}, {stats_['max']:.3f}]"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def overrides_for(axis: str, value: Any, config: TrainingConfig) -> dict[str, Any]:
    """The config keys one value of an axis sets. A sequence too short for the config's
    convolution blocks gets as many as it can pass through (50 steps: 3 of kernel 6),
    recorded in the value's experiment.json, rather than no row."""
    from training.classifier.model import max_blocks

    if axis == "loss":
        return {"loss_real": value, "loss_synthetic": value}
    if axis == "seq-length":
        fits = max_blocks(int(value), config.kernel_size)
        return {"sequence_length": value, "n_blocks": min(config.n_blocks, max(fits, 1))}
    key = {"policy": "policy", "snr": "min_snr"}[axis]
    return {key: value}


def parse_values(axis: str, text: str | None) -> tuple[Any, ...]:
    """`--values a,b,c` for an axis (its paper values when None), typed like them."""
    if axis not in VARY:
        raise ExperimentError(f"unknown --vary {axis!r}; use {', '.join(VARY)}")
    if not text:
        return VARY[axis]
    kind = type(VARY[axis][0])
    try:
        return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ExperimentError(f"--values {text!r}: not {kind.__name__} values for "
                              f"--vary {axis}") from exc


def run_varied(data_dir: str | Path, out_dir: str | Path, config: TrainingConfig, axis: str,
               scenario: str, repeats: int, values: Sequence[Any] | None = None,
               progress: bool = True, make_source: Any = None,
               mode_configs: dict[str, TrainingConfig] | None = None) -> dict[str, Any]:
    """`run_experiment` once per value of `axis` (OUT/<axis>-<value>/); OUT/vary.json.
    The axis' value is applied to each mode's own config too."""
    out_dir = Path(out_dir)
    rows = []
    for value in values or parse_values(axis, None):
        changes = overrides_for(axis, value, config)
        result = run_experiment(data_dir, out_dir / f"{axis}-{value}",
                                config.with_overrides(changes), scenario,
                                repeats, progress=progress, make_source=make_source,
                                mode_configs={m: c.with_overrides(changes)
                                              for m, c in (mode_configs or {}).items()})
        rows.append({"value": value, "config_changes": changes, "table": result["table"],
                     "n_train": sorted({r["n_train"] for r in result["runs"]})})
        varied = {"axis": axis, "scenario": scenario, "repeats": repeats, "rows": rows}
        (out_dir / "vary.json").write_text(json.dumps(varied, indent=2) + "\n")
    return varied


def varied_table(result: dict[str, Any], metric: str = "macro_f1"):
    """One row per value (the paper's Tables 3–6): each mode's mean [min, max], p-values."""
    from rich.table import Table

    table = Table(title=f"{metric} by {result['axis']}, {result['scenario']} split, "
                        f"{result['repeats']} repeats")
    for column in (result["axis"], *MODES, "Mann–Whitney p", "t-test p"):
        table.add_column(column, justify="right")
    for row in result["rows"]:
        stats_ = row["table"][metric]
        table.add_row(str(row["value"]), *(_cell(stats_[m]) for m in MODES),
                      _p(stats_["mann_whitney_p"]), _p(stats_["t_test_p"]))
    return table
