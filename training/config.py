"""`TrainingConfig`: every knob of `training train` in one object, saved with every run.

Resolution order (later wins): dataclass defaults → preset (`quick` or `paper`) → a YAML or
JSON file (`--config FILE`) → `--set key=value` overrides. The resolved object is written to
RUN/config.yaml, so a run can always be reproduced from its own folder (nanoGPT habit).

Symbols follow the paper (Pérez-Galarce et al. 2025, §3.3): ε (`epsilon`) is the quantile
that splits every weight tensor into mask1 (real) and mask2 (synthetic), ν (`nu`) scales
mask2's learning rate, E (`synthetic_every`) and φ (`synthetic_accuracy_trigger`) trigger a
new synthetic batch, b_f and c (`b_final`, `b_decay`) drive the tempering schedule
b = b_f + (1 − b_f)·exp(−c·epoch), α (`selection_alpha`) weighs F1 on synthetic data in
model selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import yaml

from broker_plugin.errors import UserError, reject_unknown_fields
from broker_plugin.features import FeatureSettings
from training.config_files import read_settings_file, settings_from_file

CONFIG_FILE = "config.yaml"
_NOUN = "config key"  # what a file's keys are called in messages
LOSSES = ("ce", "weighted_ce", "focal")
POLICIES = ("ccr", "max_confusion", "max_pairwise_confusion", "proportion", "no_priority")
SELECTIONS = ("f1_val", "f1_weighted", "val_loss")
MODES = ("two-losses", "one-loss")
WINDOW_WIDTHS = ("uniform", "log")
GENERATOR_PRESETS = ("quick", "default", "paper")  # training.generator.config.PRESETS


class TrainingConfigError(UserError, ValueError):
    """A configuration value or file that cannot work (names the key and the fix)."""


@dataclass(frozen=True)
class TrainingConfig:
    """All settings of one classifier training run (see the module docstring for symbols)."""

    mode: str = "two-losses"
    seed: int = 0
    # What the model card calls the model (broker_plugin_model_info, every output record).
    model_name: str = "selfreg-cnn"
    # Empty: `resolved_version()`, the training date and a hash of the rest of the config.
    model_version: str = ""
    # Data.
    validation_fraction: float = 0.2
    min_points: int = 10
    max_curves_per_class: int = 0  # 0 = all
    # Signal-to-noise cut on the training data (classifier/snr.py: semi-amplitude over median
    # error); 0 keeps every curve. The paper's Table 5 compares 4, 6, 8 and 10.
    min_snr: float = 0.0
    # Classifier (paper §3.1).
    n_blocks: int = 4
    filters: int = 16
    kernel_size: int = 6
    fc_units: int = 200
    # Feature setting `merge_within` [days]: exposures closer than this are averaged into one
    # visit before differencing (broker_plugin/features.py); 0 keeps every point.
    merge_within_days: float = 0.0
    # The paper's pair filters (Δm outside its 0.1–99.9 % quantiles, Δt of 100 d or more,
    # Δt below its 0.1 % quantile). Each dropped pair breaks the cumulative Δm, so the
    # in-graph summary statistics then see a magnitude curve with shifted segments (every
    # season gap, and the two largest steps of every curve): on the cross-survey folds the
    # feature forest reaches pooled macro F1 0.46 without them against 0.31 with them.
    pair_filters: bool = True
    # Length L of the (Δt, Δm) sequence: the most recent L pairs of a curve (paper: 300;
    # its Table 6 compares 50/150/300).
    sequence_length: int = 300
    # Period-free statistics of the magnitude distribution beside the sequence, computed
    # inside the graph (classifier/summary.py): cadence-robust evidence for new surveys.
    summary_features: bool = False
    # With summary_features: share of training rows that see the statistics alone (their
    # convolutional features dropped whole; model.VariableStarCNN). 0 = off.
    branch_dropout: float = 0.0
    # Factor on the temperature fitted on the validation split (calibration.py). That split
    # comes from the training surveys; a survey the model never saw is classified less
    # reliably, so the same probabilities are overconfident there. bench/shift_temperature.py
    # measures the factor on leave-one-survey-out folds; 1 calibrates for the training surveys.
    shift_temperature: float = 1.0
    # Simulated curves of no class of ours (damped random walks like AGN, multi-periodic and
    # spotted stars, constants) at the epochs and errors of real training curves, shown to
    # the unknown forest beside the catalogued other-class stars (classifier/outliers.py);
    # 0 = none.
    synthetic_outliers: int = 0
    # Optimisation.
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 8
    # Serve the mean of the weights at the end of the last N epochs (BatchNorm statistics
    # re-estimated) instead of the best single epoch; 0 = the best epoch (trainer.py).
    weight_averaging: int = 0
    selection: str = "f1_val"
    selection_alpha: float = 0.2
    # Deep ensemble: this many members trained on the same split from seeds seed, seed+1, ...
    # (same generator), exported as one graph that averages their probabilities. Results on
    # other surveys vary a lot from seed to seed; the average varies much less.
    ensemble_members: int = 1
    # Augmentation: random windows of random length of the real curves.
    window_probability: float = 0.5
    window_min_length: int = 20
    window_widths: str = "uniform"  # or "log": more short windows (data.random_windows)
    # Survey augmentation (classifier/augment.py): `augment_copies` copies of each training
    # curve, each made nightly / thinned / noisier with these probabilities; 0 = off.
    augment_copies: int = 0
    augment_nightly_probability: float = 0.5
    augment_thin_probability: float = 0.6
    augment_noise_probability: float = 0.6
    augment_min_points: int = 20
    augment_max_error: float = 0.2
    # Also augment each synthetic batch (as curves rebuilt from its features) the same way, so
    # the synthetic mask sees the surveys' sampling too, not only the reference cadence.
    augment_synthetic: bool = False
    # Validation on survey-augmented views too (one fixed copy per validation curve, added to
    # the originals), so early stopping and model selection do not favour in-survey fits.
    augment_validation: bool = False
    # Cadence transfer (training/cadence_transfer.py): light-curve directories (labels not
    # needed) whose epochs, bands and error-vs-magnitude relation lend their cadence. Given,
    # the generator's synthetic curves are observed at these templates instead of reference
    # stars' epochs, and each training curve gets `transfer_copies` extra views: its Fourier
    # model re-observed at random templates (curves whose fit is poor keep the original).
    # Without cadence_from, transfer_copies does nothing; 0 keeps only the synthetic part.
    cadence_from: list[str] = field(default_factory=list)
    transfer_copies: int = 2
    # Losses per mask.
    loss_real: str = "ce"
    loss_synthetic: str = "ce"
    focal_gamma: float = 2.0
    # Masks and the self-regulated loop (paper §3.3).
    epsilon: float = 0.3
    nu: float = 1.0
    repetitions: int = 1
    synthetic_every: int = 3
    synthetic_accuracy_trigger: float = 0.9
    synthetic_per_batch: int = 500
    policy: str = "ccr"
    n_oversampling: int = 2
    b_final: float = 0.5
    b_decay: float = 0.1
    generator_preset: str = "default"  # GeneratorConfig preset when `train` fits one
    generator_epochs: int = 0  # when `train` fits the generator itself; 0 = the preset's
    generator_max_per_class: int = 0  # fit it on at most this many curves per class; 0 = all
    # Runtime.
    device: str = "auto"
    mixed_precision: bool = True
    num_threads: int = 0  # 0 = torch's default

    def __post_init__(self) -> None:
        choices = {
            "mode": MODES,
            "loss_real": LOSSES,
            "loss_synthetic": LOSSES,
            "policy": POLICIES,
            "selection": SELECTIONS,
            "window_widths": WINDOW_WIDTHS,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise TrainingConfigError(
                    f"config {key}={getattr(self, key)!r} is not one of {', '.join(allowed)}"
                )
        if not 0.0 <= self.branch_dropout < 1.0:
            raise TrainingConfigError(
                f"config branch_dropout={self.branch_dropout}: use [0, 1) (the share of rows "
                "whose convolutional features are dropped)")
        if self.weight_averaging < 0:
            raise TrainingConfigError(
                f"config weight_averaging={self.weight_averaging}: use 0 (the best epoch) or "
                "the number of last epochs to average")
        if not 2 <= self.n_blocks <= 4:
            raise TrainingConfigError(f"config n_blocks={self.n_blocks}: use 2, 3 or 4")
        for key in ("epsilon", "validation_fraction", "selection_alpha",
                    "window_probability", "synthetic_accuracy_trigger",
                    "augment_nightly_probability", "augment_thin_probability",
                    "augment_noise_probability"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise TrainingConfigError(f"config {key}={value}: must lie in [0, 1]")
        for key in ("epochs", "batch_size", "repetitions", "synthetic_every", "kernel_size",
                    "filters", "fc_units", "synthetic_per_batch", "n_oversampling"):
            if getattr(self, key) < 1:
                raise TrainingConfigError(f"config {key}={getattr(self, key)}: must be >= 1")
        if self.generator_preset not in GENERATOR_PRESETS:
            raise TrainingConfigError(
                f"config generator_preset={self.generator_preset!r} is not one of "
                f"{', '.join(GENERATOR_PRESETS)}")
        if not 1 <= self.ensemble_members <= 32:
            raise TrainingConfigError(
                f"config ensemble_members={self.ensemble_members}: use 1 (one model) to 32")
        dirs = ([self.cadence_from] if isinstance(self.cadence_from, str | Path)
                else self.cadence_from or [])
        object.__setattr__(self, "cadence_from", [str(d) for d in dirs])
        if self.transfer_copies < 0:
            raise TrainingConfigError(
                f"config transfer_copies={self.transfer_copies}: must be >= 0 (views per "
                "training curve re-observed at cadence_from's templates)")
        if self.augment_copies < 0 or self.augment_min_points < 2:
            raise TrainingConfigError("config augment_copies must be >= 0 and "
                                      "augment_min_points >= 2")
        if not 0.01 < self.augment_max_error <= 1.0:
            raise TrainingConfigError(
                f"config augment_max_error={self.augment_max_error}: use (0.01, 1] mag")
        if self.synthetic_outliers < 0:
            raise TrainingConfigError(
                f"config synthetic_outliers={self.synthetic_outliers}: use a count >= 0")
        if not 0.1 <= self.shift_temperature <= 10.0:
            raise TrainingConfigError(
                f"config shift_temperature={self.shift_temperature}: use a factor in "
                "[0.1, 10] (1 = no shift; bench/shift_temperature.py measures one)")
        if self.learning_rate <= 0 or self.nu < 0:
            raise TrainingConfigError("config learning_rate must be > 0 and nu >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def feature_settings(self) -> FeatureSettings:
        """How this run builds its (Δt, Δm) sequences (stored in the model card)."""
        merge = self.merge_within_days or None
        if self.pair_filters:
            return FeatureSettings(self.sequence_length, merge_within=merge)
        return replace(FeatureSettings.unfiltered(self.sequence_length), merge_within=merge)

    def resolved_version(self, today: str | None = None, data: Sequence[str] = ()) -> str:
        """`model_version`, or YYYY.MM.DD+<8 hex of the config and the training data's
        sources>: two models trained the same day from different recipes or different data
        never share a version (metrics, records, chart)."""
        if self.model_version:
            return self.model_version
        import datetime as dt
        import hashlib
        import json

        recipe: dict[str, Any] = {k: v for k, v in self.to_dict().items()
                                  if k != "model_version"}
        if data:
            recipe["training_data"] = sorted(data)
        digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode())
        day = today or dt.datetime.now(dt.UTC).strftime("%Y.%m.%d")
        return f"{day}+{digest.hexdigest()[:8]}"

    def with_overrides(self, overrides: dict[str, Any]) -> TrainingConfig:
        """A copy with some keys replaced (unknown keys are an error listing valid ones)."""
        reject_unknown_fields(type(self), overrides, TrainingConfigError, f"{_NOUN}(s)")
        return replace(self, **overrides)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CONFIG_FILE
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


#: `quick`: the demo. 2 CPU cores, a few minutes on 250–1,000 simulated curves per class.
#: `paper`: the settings of Pérez-Galarce et al. (2025) as we read them (4 blocks, FC 200,
#: Adam lr 1e-3, early stopping, a synthetic batch every few epochs); where the paper gives
#: a search range rather than one value we take a value inside it.
_QUICK: dict[str, Any] = {
    "epochs": 15,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "patience": 5,
    "synthetic_every": 2,
    "synthetic_per_batch": 300,
    "n_oversampling": 1,
    "b_decay": 0.3,
    "generator_preset": "quick",
    "generator_max_per_class": 200,
    "augment_copies": 3,
    "augment_synthetic": True,
    "augment_validation": True,
    "ensemble_members": 3,
}
PRESETS: dict[str, dict[str, Any]] = {
    "quick": _QUICK,
    # `multisurvey`: the recipe of the shipped default model (scripts/build-default-model):
    # `quick`'s optimisation (40 epochs) on every shared real survey plus simulated stars,
    # at most 400 curves per class and directory, each curve also re-observed at real survey
    # cadences (`cadence_from`, set by the script) and survey-augmented, the in-graph summary
    # statistics beside the sequence over unfiltered pairs, the self-regulated two-losses
    # training, one model.
    "multisurvey": {
        **_QUICK,
        "pair_filters": False,
        "max_curves_per_class": 400,
        "augment_copies": 2,
        "transfer_copies": 2,
        "summary_features": True,
        "ensemble_members": 1,
        # 15 epochs stopped short of the validation optimum (F1 still rising at the last
        # epoch in 6 of 7 folds); 40 raised the two-losses fold models' pooled macro F1 on
        # the surveys they never saw from 0.549 to 0.589 on the first 40 points (0.648 ->
        # 0.643 on full curves; bench/loso.py, README).
        "epochs": 40,
        "patience": 10,
        # Pooled over the leave-one-survey-out folds of this recipe (two-losses, 40 epochs,
        # simulated stars at every survey's cadence; bench/shift_temperature.py, README): the
        # nested ECE on surveys left out 0.095 -> 0.037 on full curves, 0.059 -> 0.051 on the
        # first 40 points. (1.79 for the 15-epoch one-loss fold models, 2.38 without the
        # simulated stars, whose fold models were overconfident.)
        "shift_temperature": 1.64,
        # Leave-one-survey-out unknown AUROC, pooled (bench/calibration_loso.py with the
        # folds' simulated stars in the bank, README): 1,000 -> 2,000 raised it from 0.805
        # to 0.818-0.821 (two outlier draws); 3,000 gave 0.813.
        "synthetic_outliers": 2000,
        "model_name": "selfreg-cnn-multisurvey",
    },
    "paper": {
        "epochs": 300,
        "batch_size": 256,
        "learning_rate": 1e-3,
        "patience": 20,
        "n_blocks": 4,
        "epsilon": 0.3,
        "nu": 1.0,
        "repetitions": 1,
        "synthetic_every": 5,
        "synthetic_accuracy_trigger": 0.9,
        "synthetic_per_batch": 2000,
        "n_oversampling": 5,
        "policy": "ccr",
        "loss_real": "focal",
        "loss_synthetic": "focal",
        "selection": "f1_weighted",
        "selection_alpha": 0.2,
        "augment_copies": 5,
    },
}


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """`key=value` strings to a dict, values typed by the config field's annotation."""
    hints = get_type_hints(TrainingConfig)
    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TrainingConfigError(f"--set {item!r}: write key=value, e.g. --set epochs=20")
        if key not in hints:
            raise TrainingConfigError(
                f"--set {item!r}: unknown key {key!r}; valid keys: {', '.join(sorted(hints))}"
            )
        result[key] = _coerce(key, raw.strip(), hints[key])
    return result


def _coerce(key: str, raw: str, kind: Any) -> Any:
    if get_origin(kind) is list:  # [a,b], a,b or [] (items may not contain commas)
        inner = raw.strip()
        if inner.startswith("[") and inner.endswith("]"):
            inner = inner[1:-1]
        return [item.strip().strip("'\"") for item in inner.split(",") if item.strip()]
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise TrainingConfigError(
            f"config {key}={raw!r}: expected a {getattr(kind, '__name__', kind)}"
        ) from None
    return raw


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping of config keys (e.g. a previous run's config.yaml), keys and
    value types checked (`training.config_files`: errors name the file, the key, the fix)."""
    return read_settings_file(path, TrainingConfig, TrainingConfigError, _NOUN)


#: The --device option of train, experiment and tune (one text for the three).
DEVICE_HELP = ("cpu, cuda or cuda:N (default: the config's device, auto = CUDA when present); "
               "on CUDA training runs in mixed precision (config mixed_precision).")


def with_device(overrides: list[str], device: str | None) -> list[str]:
    """`--set` overrides with `--device` added (it is the config's `device`)."""
    return [*overrides, f"device={device}"] if device else list(overrides)


def resolve_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    mode: str | None = None,
) -> TrainingConfig:
    """Defaults → preset → file → `--set` overrides → `--mode` (see the module docstring)."""
    config = TrainingConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise TrainingConfigError(
                f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}"
            )
        config = config.with_overrides(PRESETS[preset])
    if config_file is not None:
        config = settings_from_file(
            config_file, TrainingConfig, config.with_overrides, TrainingConfigError, _NOUN
        )
    config = config.with_overrides(parse_overrides(overrides))
    if mode is not None:
        config = config.with_overrides({"mode": mode})
    return config
