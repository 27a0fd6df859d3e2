"""`training tune`: Bayesian search of the self-regulated CNN's settings (paper §3.4, §5.1).

Pérez-Galarce et al. (2025) tune their classifier with Bayesian optimisation and compare two
objectives by how well the configurations each one prefers do on the shifted test set:
F1_val, and F1_weighted,α = (1 − α)·F1_val + α·F1_synthetic (their Table 2 and Figure A1).
This module runs that search with Optuna's TPE sampler (it runs offline, stores every trial
in a database, resumes, and lets several workers share one study through that database).

One trial: the base config (preset → file → `--set`) plus the trial's values of `SPACE`;
the chosen objective is also the model-selection criterion inside training (`selection`,
`selection_alpha`), so the trial's value is the selection score of the weights it keeps.
The data are split once per study (the holdout of `training experiment`: random or an
induced-bias split, seed `split_seed`; then train/validation), the training seed is the
base config's for every trial (differences between trials come from their settings, not
their seeds), and the test set is never seen by the search: its macro F1 is stored beside
each trial (user attribute `f1_test`) for the Figure A1 analysis only (`tune_analysis.py`).

The space, mapped onto `TrainingConfig` (paper symbol → field): n_blocks; ε → epsilon;
ν → nu; repetitions; E → synthetic_every; φ → synthetic_accuracy_trigger; policy;
synthetic_per_batch; n_oversampling; b_f → b_final; c → b_decay; the loss of each mask →
loss_real, loss_synthetic; focal γ → focal_gamma (drawn only when a focal loss is); learning
rate; batch size. The focal loss's α has no field: it is the class weights, as in the
paper's code. The ranges are ours, around the paper's values, and `--range` narrows them.
`--mode one-loss` searches the baseline's own part of the space (n_blocks, loss_real,
focal_gamma, learning_rate, batch_size): the other keys do nothing without synthetic data.

Storage: `sqlite:///OUT/tune.db` by default; the study's identity (data, split, mode,
objective, α, base config) is stored with it, and a rerun that does not match is refused
rather than mixing incomparable trials. `--trials N` is what this command runs, as in
Optuna (each worker of a shared study runs its own N). A worker that dies leaves its trial
running; the heartbeat marks it failed after `GRACE_S` and it is retried once
(Optuna's RetryFailedTrialCallback), so no trial is lost.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import typer
import yaml

from broker_plugin.errors import UserError
from broker_plugin.features import FeatureSettings
from broker_plugin.lightcurve import LightCurve
from training.config import DEVICE_HELP, LOSSES, POLICIES, TrainingConfig, with_device

OBJECTIVES = ("f1-val", "f1-weighted")
MODES = ("two-losses", "one-loss")
DB_FILE = "tune.db"
RESULT_FILE = "tune.json"
FIGURE_FILE = "figure_a1.png"
HEARTBEAT_S = 30
GRACE_S = 120
# Config keys that may differ between workers of one study (machines differ).
RUNTIME_KEYS = ("device", "mixed_precision", "num_threads")
SPEC_ATTR = "tune_spec"  # the study's identity (StudySpec + base config), a user attribute


@dataclass(frozen=True)
class Dimension:
    """One searched config key: 'int', 'float' (log-uniform when `log`) or 'choice'."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()


#: The searched keys and their default ranges (see the module docstring).
SPACE: dict[str, Dimension] = {
    "n_blocks": Dimension("int", 2, 4),
    "epsilon": Dimension("float", 0.1, 0.9),
    "nu": Dimension("float", 0.1, 3.0, log=True),
    "repetitions": Dimension("int", 1, 3),
    "synthetic_every": Dimension("int", 1, 10),
    "synthetic_accuracy_trigger": Dimension("float", 0.5, 1.0),
    "policy": Dimension("choice", choices=POLICIES),
    "synthetic_per_batch": Dimension("int", 100, 2000, log=True),
    "n_oversampling": Dimension("int", 1, 5),
    "b_final": Dimension("float", 0.05, 1.0),
    "b_decay": Dimension("float", 0.01, 1.0, log=True),
    "loss_real": Dimension("choice", choices=LOSSES),
    "loss_synthetic": Dimension("choice", choices=LOSSES),
    "focal_gamma": Dimension("float", 0.5, 5.0),
    "learning_rate": Dimension("float", 1e-4, 1e-2, log=True),
    "batch_size": Dimension("choice", choices=(32, 64, 128, 256)),
}
ONE_LOSS_KEYS = ("n_blocks", "loss_real", "focal_gamma", "learning_rate", "batch_size")


class TuneError(UserError, ValueError):
    """A search that cannot run as asked (names the option and the fix)."""


@dataclass(frozen=True)
class StudySpec:
    """What makes trials comparable; stored as the study's user attributes."""

    data: str
    scenario: str
    split_seed: int
    mode: str
    objective: str
    alpha: float

    def check(self) -> None:
        if self.mode not in MODES:
            raise TuneError(f"--mode {self.mode!r}: use {' or '.join(MODES)}")
        if self.objective not in OBJECTIVES:
            raise TuneError(f"--objective {self.objective!r}: use {' or '.join(OBJECTIVES)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise TuneError(f"--alpha {self.alpha}: must lie in [0, 1] (the paper: 0.15, 0.3)")

    def default_study_name(self) -> str:
        if self.objective == "f1-val":
            return f"{self.mode}-f1-val"
        return f"{self.mode}-f1-weighted-{self.alpha:g}"


@dataclass
class TuneData:
    """One study's split, featurised once and shared by every trial."""

    train: Any  # LabelledFeatures, views attached
    val: Any
    test: Any
    classes: list[str]
    settings: FeatureSettings
    train_curves: list[LightCurve]


# --- the space -----------------------------------------------------------------------------


def parse_ranges(items: Sequence[str]) -> dict[str, Dimension]:
    """`--range key=low:high` (numbers) or `key=a,b` (choices) over `SPACE`'s defaults."""
    space = dict(SPACE)
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in SPACE:
            raise TuneError(f"--range {item!r}: write key=low:high or key=a,b with a key of "
                            f"the space: {', '.join(SPACE)}")
        dim = SPACE[key]
        try:
            if dim.kind == "choice":
                kind = type(dim.choices[0])
                picked = tuple(kind(v.strip()) for v in text.split(",") if v.strip())
                bad = [v for v in picked if v not in dim.choices]
                if bad or not picked:
                    raise ValueError(f"choose among {', '.join(map(str, dim.choices))}")
                space[key] = replace(dim, choices=picked)
            else:
                low_text, colon, high_text = text.partition(":")
                if not colon:
                    raise ValueError("write low:high")
                cast = int if dim.kind == "int" else float
                low, high = cast(low_text), cast(high_text)
                if not low <= high or (dim.log and low <= 0):
                    raise ValueError("need low <= high (and low > 0 on a log scale)")
                space[key] = replace(dim, low=low, high=high)
        except ValueError as exc:
            raise TuneError(f"--range {item!r}: {exc}") from None
    return space


def searched_keys(mode: str, freeze: Sequence[str]) -> list[str]:
    """The keys a study of `mode` draws, less `--freeze`'s (they keep the base config's)."""
    unknown = sorted(set(freeze) - set(SPACE))
    if unknown:
        raise TuneError(f"--freeze {', '.join(unknown)}: not in the space; use keys of "
                        f"{', '.join(SPACE)}")
    keys = SPACE if mode == "two-losses" else ONE_LOSS_KEYS
    return [k for k in keys if k not in freeze]


def suggest(trial: Any, keys: Sequence[str], space: dict[str, Dimension],
            config: TrainingConfig) -> dict[str, Any]:
    """The trial's config changes. n_blocks stops where the sequence is too short for more
    valid-convolution + pooling blocks; focal_gamma is drawn only for a focal loss."""
    from training.classifier.model import max_blocks

    values: dict[str, Any] = {}
    for key in keys:
        dim = space[key]
        if key == "focal_gamma":
            continue
        if key == "n_blocks":
            fits = max(min(int(dim.high), max_blocks(config.sequence_length,
                                                      config.kernel_size)), 2)
            dim = replace(dim, low=min(dim.low, fits), high=fits)
        values[key] = _draw(trial, key, dim)
    losses = (values.get("loss_real", config.loss_real),
              values.get("loss_synthetic", config.loss_synthetic)
              if config.mode == "two-losses" else config.loss_real)
    if "focal_gamma" in keys and "focal" in losses:
        values["focal_gamma"] = _draw(trial, "focal_gamma", space["focal_gamma"])
    return values


def _draw(trial: Any, key: str, dim: Dimension) -> Any:
    if dim.kind == "choice":
        return trial.suggest_categorical(key, list(dim.choices))
    if dim.kind == "int":
        return trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(key, float(dim.low), float(dim.high), log=dim.log)


def trial_config(base: TrainingConfig, values: dict[str, Any], spec: StudySpec) -> TrainingConfig:
    """The base config with a trial's values and the objective as model selection."""
    selection = "f1_val" if spec.objective == "f1-val" else "f1_weighted"
    return base.with_overrides({**values, "mode": spec.mode, "selection": selection,
                                "selection_alpha": spec.alpha, "ensemble_members": 1})


# --- data ----------------------------------------------------------------------------------


def prepare_data(data_dir: str | Path, config: TrainingConfig, scenario: str,
                 split_seed: int) -> TuneData:
    """The holdout of `training experiment` (repeat `split_seed`), then train/validation."""
    from training.classifier.augment import attach_views
    from training.classifier.data import (
        classes_in,
        featurise_labelled,
        load_curves,
        stratified_split,
    )
    from training.classifier.experiment import SCENARIOS, holdout
    from training.classifier.snr import above_snr

    if scenario not in SCENARIOS:
        raise TuneError(f"--split-scenario {scenario!r}: use {', '.join(SCENARIOS)}")
    settings = config.feature_settings()
    limit = config.max_curves_per_class if scenario == "random" else 0
    curves = load_curves(data_dir, limit, config.seed)
    classes = classes_in(curves)
    if len(classes) < 2:
        raise TuneError(f"{data_dir}: found label(s) {classes or 'none'}; a search needs at "
                        "least two labelled classes")
    pool_index, test_index = holdout(curves, scenario, seed=split_seed, data_dir=data_dir)
    pool = above_snr([curves[i] for i in pool_index], config.min_snr)
    test = featurise_labelled([curves[i] for i in test_index], classes, settings,
                              config.min_points)
    data = featurise_labelled(pool, classes, settings, config.min_points)
    train_index, val_index = stratified_split(data.y, config.validation_fraction, split_seed)
    train, val = data.subset(train_index), data.subset(val_index)
    train_curves = [pool[i] for i in train.source_index]  # type: ignore[union-attr]
    attach_views(train, train_curves, config, settings, split_seed)
    if min(len(train), len(val), len(test)) < 2:
        raise TuneError(f"{data_dir}: {len(train)} train / {len(val)} validation / "
                        f"{len(test)} test curves; a search needs more labelled curves")
    return TuneData(train, val, test, classes, settings, train_curves)


SourceFactory = Callable[[TrainingConfig], Any]


def source_factory(data: TuneData, config: TrainingConfig, spec: StudySpec, out_dir: Path,
                   generator_dir: Path | None, progress: bool,
                   make_source: Any = None) -> SourceFactory:
    """Per trial, the synthetic source of its config (None for one-loss).

    One PELS-VAE serves the whole study: loaded from `generator_dir`, or from
    OUT/split-<scenario>-<seed>/generator fitted by an earlier run, else fitted there on the
    study's training split; each trial wraps it with its own n_oversampling. `make_source`
    (tests) is `training experiment`'s hook, called per trial. Workers on other machines
    should share one generator through `--generator` rather than fit their own.
    """
    if spec.mode == "one-loss":
        return lambda trial_config: None
    if make_source is not None:
        return lambda trial_config: make_source(data.train_curves, data.classes,
                                                data.settings, trial_config)
    from training.classifier.data import GeneratorSource
    from training.classifier.run import generator_source

    split_dir = out_dir / f"split-{spec.scenario}-{spec.split_seed}"
    if generator_dir is None and (split_dir / "generator" / "summary.json").is_file():
        generator_dir = split_dir / "generator"  # fitted by an earlier run of this study
    fitted = generator_source(generator_dir, data.train_curves, data.classes, data.settings,
                              replace(config, mode="two-losses"), split_dir, progress)
    generator = fitted.generator  # type: ignore[attr-defined]
    return lambda trial_config: GeneratorSource(generator, data.classes, data.settings,
                                                trial_config.n_oversampling)


# --- storage -------------------------------------------------------------------------------


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise TuneError("`training tune` needs optuna (the [train] extra): "
                        "pip install 'selfreg-varstars[train]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_storage(url: str) -> Any:
    """Optuna's RDB storage with heartbeats, so a dead worker's trial is failed and retried."""
    import warnings

    optuna = _optuna()
    from optuna import storages

    # Optuna >= 4.9 names the retry callback RetryHeartbeatStaleTrialCallback; older ones
    # RetryFailedTrialCallback. Both are "experimental" there: no warning for the user.
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                if retry is not None:
                    callback = {"heartbeat_stale_trial_callback": retry(max_retry=1)}
                else:
                    callback = {"failed_trial_callback": storages.RetryFailedTrialCallback(
                        max_retry=1)}
                return storages.RDBStorage(url, engine_kwargs=engine,
                                           heartbeat_interval=HEARTBEAT_S,
                                           grace_period=GRACE_S, **callback)
        except ImportError as exc:
            raise TuneError(f"--storage {url}: its database driver is not installed ({exc}); "
                            "for PostgreSQL pip install psycopg2-binary on every worker") from None
        except Exception as exc:  # SQLAlchemy's URL, connection and permission errors
            # Workers that start together on a new database race to create its tables and
            # version rows: the loser sees 'already exists' or a UNIQUE constraint fail.
            if attempt < 4 and _creation_race(exc):
                time.sleep(0.5 + attempt)
                continue
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise TuneError(f"--storage {_safe_url(url)}: cannot open it ({first}); write "
                            "e.g. sqlite:///tune.db or postgresql://user:pass@host/db") from None
    raise AssertionError("unreachable")


def _creation_race(exc: Exception) -> bool:
    text = str(exc)
    return type(exc).__name__ == "IntegrityError" or any(
        mark in text for mark in ("already exists", "database is locked"))


def open_study(storage: Any, name: str, spec: StudySpec, base: TrainingConfig,
               sampler_seed: int | None) -> Any:
    """Create or load the study; refuse one made for other data, objective or config."""
    optuna = _optuna()
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    if sampler_seed is not None and name in existing:
        sampler_seed += existing[name].n_trials  # a rerun must not replay the first draws
    sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                sampler=sampler, load_if_exists=True)
    wanted = {**dataclasses.asdict(spec), "base_config": _comparable(base)}
    # One attribute, written in one statement: a worker starting beside another sees the
    # whole identity or none of it, never half.
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is None:
        study.set_user_attr(SPEC_ATTR, wanted)
        return study
    differs = [k for k, v in wanted.items() if k != "base_config" and stored.get(k) != v]
    config_differs = sorted(k for k, v in wanted["base_config"].items()
                            if stored.get("base_config", {}).get(k) != v)
    if differs or config_differs:
        what = [f"{k}={stored.get(k)!r} (now {wanted[k]!r})" for k in differs]
        if config_differs:
            what.append(f"base config keys {', '.join(config_differs[:6])}")
        raise TuneError(f"study {name!r} was made with {'; '.join(what)}: its trials are not "
                        "comparable with this search; rerun with the same options or pass "
                        "a new --study-name")
    return study


def _comparable(config: TrainingConfig) -> dict[str, Any]:
    return {k: v for k, v in config.to_dict().items() if k not in RUNTIME_KEYS}


# --- the search ----------------------------------------------------------------------------


def run_tune(
    data_dir: str | Path,
    out_dir: str | Path,
    config: TrainingConfig,
    *,
    scenario: str = "random",
    split_seed: int = 0,
    mode: str = "two-losses",
    objective: str = "f1-weighted",
    alpha: float = 0.15,
    trials: int = 20,
    timeout: float | None = None,
    jobs: int = 1,
    storage: str | None = None,
    study_name: str | None = None,
    freeze: Sequence[str] = (),
    ranges: Sequence[str] = (),
    generator_dir: str | Path | None = None,
    seed: int | None = None,
    progress: bool = True,
    make_source: Any = None,
) -> dict[str, Any]:
    """Run `trials` more trials; write OUT/best-<study>.yaml, OUT/tune.json and
    OUT/figure_a1.png (every study of the storage); return this study's analysis."""
    from training.classifier.tune_analysis import analyse_storage, plot_figure_a1

    spec = StudySpec(str(Path(data_dir).resolve()), scenario, split_seed, mode, objective,
                     float(alpha))
    spec.check()
    if trials < 1 or jobs < 1:
        raise TuneError("--trials and --jobs must be >= 1")
    keys = searched_keys(mode, freeze)
    space = parse_ranges(ranges)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / DB_FILE).resolve()}"
    name = study_name or spec.default_study_name()
    base = config.with_overrides({"mode": mode, "ensemble_members": 1})
    trial_config(base, {}, spec)  # the objective's settings are valid before any work
    # The data before the study: a mistake there must not leave a study behind.
    data = prepare_data(data_dir, base, scenario, split_seed)
    study = open_study(open_storage(url), name, spec, base, seed)

    if jobs > 1 and not base.num_threads:  # trials in threads share the cores
        base = replace(base, num_threads=max(1, (os.cpu_count() or 1) // jobs))
    sources = source_factory(data, base, spec, out, Path(generator_dir) if generator_dir
                             else None, progress, make_source)
    objective_fn = _objective(data, base, spec, keys, space, sources)
    with _TrialBar(progress, trials, name) as bar:
        # A RuntimeError (torch: out of memory, a numerical failure) fails its trial only;
        # the search goes on. User errors stop it.
        study.optimize(objective_fn, n_trials=trials, timeout=timeout, n_jobs=jobs,
                       callbacks=[bar.update], catch=(RuntimeError,))

    write_best_config(study, base, spec, out / f"best-{_slug(name)}.yaml")
    analyses = analyse_storage(url)
    (out / RESULT_FILE).write_text(json.dumps({"storage": _safe_url(url), "studies": analyses},
                                              indent=2, default=str) + "\n")
    plot_figure_a1(analyses, out / FIGURE_FILE)
    return next(a for a in analyses if a["study"] == name)


def _objective(data: TuneData, base: TrainingConfig, spec: StudySpec, keys: Sequence[str],
               space: dict[str, Dimension], sources: SourceFactory) -> Callable[[Any], float]:
    """The function Optuna maximises: train one model, score it, keep the test F1 aside."""
    from training.classifier.metrics import summary
    from training.classifier.trainer import predict_probabilities, train_classifier

    worker = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: Any) -> float:
        config = trial_config(base, suggest(trial, keys, space, base), spec)
        result = train_classifier(data.train, data.val, config, source=sources(config),
                                  progress=False, settings=data.settings)
        kept = result.history[result.best_epoch - 1] if result.best_epoch > 0 else {}
        test = summary(data.test.y, predict_probabilities(result.model, data.test.x),
                       data.classes)
        for key, value in {
            "f1_val": kept.get("f1_val"), "f1_synthetic": kept.get("f1_synthetic"),
            "f1_test": test["macro_f1"], "roc_auc_ovo_test": test.get("roc_auc_ovo"),
            "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "seconds": float(sum(h["seconds"] for h in result.history)), "worker": worker,
            "policy": config.policy if spec.mode == "two-losses" else None,
        }.items():
            trial.set_user_attr(key, value)
        return float(result.best_score)

    return objective


def write_best_config(study: Any, base: TrainingConfig, spec: StudySpec, path: Path) -> Path:
    """The best trial's config as a file `training train --config` reads as is."""
    optuna = _optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        raise TuneError(f"study {study.study_name!r} has no finished trial yet; run more "
                        "--trials or a longer --timeout")
    best = max(done, key=lambda t: t.value)
    config = trial_config(base, dict(best.params), spec)
    values = {k: v for k, v in config.to_dict().items() if k not in RUNTIME_KEYS}
    header = (f"# best of study {study.study_name!r}: trial {best.number}, "
              f"{spec.objective} {best.value:.4f} (training tune)\n")
    path.write_text(header + yaml.safe_dump(values, sort_keys=False))
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _safe_url(url: str) -> str:
    """The storage URL without a password (tune.json may be shared)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class _TrialBar:
    """A rich progress bar over finished trials, showing the best value so far."""

    def __init__(self, enabled: bool, total: int, name: str) -> None:
        self.bar = None
        self.name = name
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress("[progress.description]{task.description}", BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                TimeRemainingColumn())
            self.task = self.bar.add_task(f"tune {name}", total=total)

    def __enter__(self) -> _TrialBar:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, study: Any, trial: Any) -> None:
        if self.bar is None:
            return
        try:
            best = f" · best {study.best_value:.3f} (trial {study.best_trial.number})"
        except ValueError:  # no finished trial yet
            best = ""
        self.bar.update(self.task, advance=1, description=f"tune {self.name}{best}")


# --- the command ---------------------------------------------------------------------------


def tune_command(
    data: Path = typer.Option(..., "--data", help="Light-curve directory with labels "
                              "(and physical parameters for two-losses)."),
    out: Path = typer.Option(..., "--out", help="Directory for the study database, the best "
                             "config, tune.json and figure_a1.png."),
    split_scenario: str = typer.Option("random", "--split-scenario",
                                       help="rrlyr, multiclass or random (as experiment)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Which holdout (experiment's "
                                   "repeat k): the study's train/validation/test split."),
    mode: str = typer.Option("two-losses", "--mode", help="two-losses, or one-loss to tune "
                             "the baseline over its own part of the space."),
    objective: str = typer.Option("f1-weighted", "--objective",
                                  help="f1-val or f1-weighted (the paper's F1_weighted,α)."),
    alpha: float = typer.Option(0.15, "--alpha", help="α of F1_weighted,α (paper: 0.15, 0.3)."),
    trials: int = typer.Option(20, "--trials", help="Trials this command runs (a rerun adds "
                               "to the study; each worker runs its own)."),
    timeout: float | None = typer.Option(None, "--timeout", help="Stop starting trials "
                                         "after this many seconds."),
    jobs: int = typer.Option(1, "--jobs", help="Trials in parallel in this process."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL shared by workers (default "
        "sqlite:///OUT/tune.db; postgresql://user:pass@host/db for several machines)."),
    study_name: str | None = typer.Option(
        None, "--study-name", help="Default: <mode>-f1-val or <mode>-f1-weighted-<α>."),
    preset: str | None = typer.Option("quick", "--preset", help="Base: quick, multisurvey or "
                                      "paper."),
    config: Path | None = typer.Option(None, "--config", help="Base YAML/JSON config file."),
    set_: list[str] = typer.Option([], "--set", help="Base override: key=value (repeatable)."),
    freeze: str = typer.Option("", "--freeze", help="Comma-separated keys of the space to "
                               "keep at the base config's value."),
    range_: list[str] = typer.Option([], "--range", help="Narrow one key of the space: "
                                     "key=low:high or key=a,b (repeatable)."),
    generator: Path | None = typer.Option(
        None, "--generator", help="Fitted generator directory shared by all trials (and "
        "workers); fitted once on the study's training split when omitted."),
    seed: int | None = typer.Option(None, "--seed", help="TPE sampler seed (leave it out "
                                    "for workers sharing a study)."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Bayesian search (Optuna TPE) over the self-regulated CNN's settings (paper §3.4)."""
    from rich.console import Console

    from training.classifier.tune_analysis import table2_rich
    from training.config import resolve_config

    resolved = resolve_config(preset, config, with_device(set_, device))
    result = run_tune(data, out, resolved, scenario=split_scenario, split_seed=split_seed,
                      mode=mode, objective=objective, alpha=alpha, trials=trials,
                      timeout=timeout, jobs=jobs, storage=storage, study_name=study_name,
                      freeze=[k.strip() for k in freeze.split(",") if k.strip()],
                      ranges=range_, generator_dir=generator, seed=seed, progress=not quiet)
    console = Console()
    analyses = json.loads((out / RESULT_FILE).read_text())["studies"]
    console.print(table2_rich(analyses))
    best = result["recommended"]
    console.print(
        f"study {result['study']}: {result['n_complete']} finished trials; best {objective} "
        f"{best['objective']:.4f} (trial {best['trial']}, test F1 {best['f1_test']:.3f}); "
        f"wrote {out}/best-{_slug(result['study'])}.yaml (training train --config), "
        f"{out}/{RESULT_FILE}, {out}/{FIGURE_FILE}")
