"""`GeneratorConfig`: every knob of the generator in one object, saved beside the weights.

Three named presets (`GeneratorConfig.preset(name)`, `fit-generator --preset`):

* ``quick``: a small VAE on at most 150 curves per class with early stopping; fits a
  250-stars-per-class LSST-like set (7,500 band curves) in well under two minutes on two
  CPU cores. For demos, tests and `training train --preset quick`.
* ``default``: the dataclass defaults: a mid-sized VAE on every curve.
* ``paper``: the paper's representation (2 cycles x 300 phase points) with a wider, deeper
  network, more epochs and the regressor's grid search; sized for a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from broker_plugin.errors import UserError, reject_unknown_fields
from training.config_files import settings_from_file

CADENCE_WINDOWS = ("cycles", "full")


class GeneratorConfigError(UserError, ValueError):
    """A generator configuration that cannot work (the message names the field and the fix)."""


@dataclass(frozen=True)
class GeneratorConfig:
    """Sizes, optimisation and sampling settings of PELS-VAE and its companions."""

    # Folded-curve representation: `n_phase` points per cycle, `cycles` cycles in a row.
    n_phase: int = 100
    cycles: int = 2
    # PELS-VAE architecture.
    latent_dim: int = 4
    hidden: int = 32
    levels: int = 5
    kernel_size: int = 3
    dropout: float = 0.0
    # Optimisation.
    epochs: int = 40
    # Stop when the held-out MSE has not improved for this many epochs (best weights are
    # kept); 0 trains all `epochs`.
    early_stopping_patience: int = 0
    # Curves per class the VAE trains on (0 = all). The cap keeps curves with at least
    # `vae_min_points` finite points first (random among them), so fitting stays cheap on
    # large multi-band sets; the mixtures, regressor and references still use every curve.
    vae_max_per_class: int = 0
    vae_min_points: int = 20
    batch_size: int = 32
    learning_rate: float = 5e-3
    beta: float = 1e-4
    beta_schedule: str = "constant"  # "constant" or "step"
    beta_steps: int = 4
    validation_fraction: float = 0.15
    seed: int = 0
    # Intra-op CPU threads while training the VAE (0: torch's default). Small convolutions
    # gain little from threads and lose much when the cores are shared.
    cpu_threads: int = 0
    # Physical-parameter model and tempering.
    knn_neighbours: int = 5
    mean_precision_prior: float = 1.0
    pool_size: int = 20_000
    # Latent regressor.
    regressor_trees: int = 200
    regressor_grid_search: bool = False
    # Synthesis. Each reference star keeps its most recent `max_points` observations (times
    # and errors), on which synthetic curves are unfolded. `cadence_window` "cycles" uses a
    # random contiguous window of k ~ U(1, baseline/P) cycles of them, widened to at least
    # `min_window_points` epochs (the classifier drops real curves that short anyway);
    # "full" uses them all.
    max_points: int = 1000
    cadence_window: str = "cycles"
    min_window_points: int = 20

    def __post_init__(self) -> None:
        positive = (
            "n_phase", "cycles", "latent_dim", "hidden", "levels", "kernel_size", "epochs",
            "batch_size", "beta_steps", "knn_neighbours", "pool_size", "regressor_trees",
            "max_points", "min_window_points",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GeneratorConfigError(
                    f"generator config {name!r} must be a positive integer, got {value!r}"
                )
        for name in (
            "early_stopping_patience", "vae_max_per_class", "vae_min_points", "cpu_threads"
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise GeneratorConfigError(
                    f"generator config {name!r} must be an integer >= 0, got {value!r}"
                )
        if self.cadence_window not in CADENCE_WINDOWS:
            raise GeneratorConfigError(
                f"generator config 'cadence_window' must be one of {list(CADENCE_WINDOWS)}, "
                f"got {self.cadence_window!r}"
            )
        if self.beta_schedule not in ("constant", "step"):
            raise GeneratorConfigError(
                f"generator config 'beta_schedule' must be 'constant' or 'step', "
                f"got {self.beta_schedule!r}"
            )
        if self.beta < 0:
            raise GeneratorConfigError(f"generator config 'beta' must be >= 0, got {self.beta}")
        if not 0.0 < self.validation_fraction < 0.9:
            raise GeneratorConfigError(
                "generator config 'validation_fraction' must be in (0, 0.9), "
                f"got {self.validation_fraction}"
            )
        if self.n_phase < 8:
            raise GeneratorConfigError(
                f"generator config 'n_phase' must be at least 8, got {self.n_phase}"
            )

    @property
    def length(self) -> int:
        """Sequence length seen by the VAE: `cycles` x `n_phase`."""
        return self.cycles * self.n_phase

    def beta_at(self, epoch: int) -> float:
        """β of a (0-based) epoch: constant, or raised in `beta_steps` equal steps over the
        first half of training (warm-up against posterior collapse)."""
        if self.beta_schedule == "constant":
            return self.beta
        step_length = max(1, (self.epochs // 2) // self.beta_steps)
        step = min(self.beta_steps, epoch // step_length + 1)
        return self.beta * step / self.beta_steps

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> GeneratorConfig:
        """A named preset (see the module docstring), with any field overridden."""
        if name not in PRESETS:
            raise GeneratorConfigError(
                f"unknown generator preset {name!r}; choose one of {sorted(PRESETS)}"
            )
        return cls.from_dict({**PRESETS[name], **overrides})

    @classmethod
    def quick(cls, **overrides: Any) -> GeneratorConfig:
        """The fast CPU preset: `GeneratorConfig.preset("quick", **overrides)`."""
        return cls.preset("quick", **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneratorConfig:
        reject_unknown_fields(cls, data, GeneratorConfigError, "generator setting(s)")
        return cls(**dict(data))

    @classmethod
    def from_file(cls, path: str | Path, preset: str = "default") -> GeneratorConfig:
        """Read a YAML or JSON config file over a preset (the file's keys win); a bad file
        is a one-line error naming it, the key and the fix (`training.config_files`)."""
        cls.preset(preset)  # an unknown preset is the command's mistake, not the file's
        return settings_from_file(
            path, cls, lambda data: cls.preset(preset, **data), GeneratorConfigError,
            "generator setting",
        )

    #: The older name: the file may be YAML too.
    from_json = from_file


#: Field values of each named preset (everything else keeps its default).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "n_phase": 64,
        "hidden": 16,
        "levels": 4,
        "epochs": 40,
        "early_stopping_patience": 5,
        "batch_size": 64,
        "learning_rate": 5e-3,
        "vae_max_per_class": 150,
        "regressor_trees": 60,
        "pool_size": 10_000,
        "cpu_threads": 1,
    },
    "default": {},
    "paper": {
        "n_phase": 300,
        "hidden": 64,
        "levels": 8,
        "epochs": 150,
        "early_stopping_patience": 15,
        "learning_rate": 1e-3,
        "beta_schedule": "step",
        "regressor_trees": 300,
        "regressor_grid_search": True,
    },
}
