"""`GeneratorConfig`: every knob of the generator in one object, saved beside the weights.

Defaults are small enough to fit on a laptop CPU in minutes; the paper's sizes (2 cycles x
300 phase points, wider networks, more epochs) are a config away.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from broker_plugin.errors import UserError


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
    batch_size: int = 32
    learning_rate: float = 5e-3
    beta: float = 1e-4
    beta_schedule: str = "constant"  # "constant" or "step"
    beta_steps: int = 4
    validation_fraction: float = 0.15
    seed: int = 0
    # Physical-parameter model and tempering.
    knn_neighbours: int = 5
    mean_precision_prior: float = 1.0
    pool_size: int = 20_000
    # Latent regressor.
    regressor_trees: int = 200
    regressor_grid_search: bool = False
    # Synthesis.
    max_points: int = 1000

    def __post_init__(self) -> None:
        positive = (
            "n_phase", "cycles", "latent_dim", "hidden", "levels", "kernel_size", "epochs",
            "batch_size", "beta_steps", "knn_neighbours", "pool_size", "regressor_trees",
            "max_points",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GeneratorConfigError(
                    f"generator config {name!r} must be a positive integer, got {value!r}"
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GeneratorConfigError(
                f"unknown generator setting(s) {unknown}; valid names are {sorted(known)}"
            )
        return cls(**dict(data))

    @classmethod
    def from_json(cls, path: str | Path) -> GeneratorConfig:
        """Read a config file; a bad file is a one-line error naming it."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GeneratorConfigError(f"{path}: cannot read generator config ({exc})") from exc
        if not isinstance(data, dict):
            raise GeneratorConfigError(f"{path}: generator config must be a JSON object")
        return cls.from_dict(data)
