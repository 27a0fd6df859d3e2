"""The simulator's priors (package data `training/data/simulator_priors.yaml`) and their draws."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

PRIORS_RESOURCE = "simulator_priors.yaml"


@lru_cache(maxsize=1)
def load_priors() -> dict[str, dict[str, dict[str, Any]]]:
    """Class -> subclass -> spec, read once from the package data."""
    text = resources.files("training").joinpath("data", PRIORS_RESOURCE).read_text()
    return yaml.safe_load(text)


def subclass_fractions(label: str) -> tuple[list[str], np.ndarray]:
    """Subclass names of a class and their normalised fractions."""
    specs = load_priors()[label]
    names = list(specs)
    weights = np.array([float(specs[n]["fraction"]) for n in names])
    return names, weights / weights.sum()


def draw(spec: Mapping[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    """n values from a distribution spec; truncated normals are resampled, not clipped."""
    kind = spec["dist"]
    low, high = float(spec.get("low", -np.inf)), float(spec.get("high", np.inf))
    if kind == "uniform":
        return rng.uniform(low, high, n)
    if kind == "loguniform":
        return np.exp(rng.uniform(np.log(low), np.log(high), n))
    if kind == "normal":
        out = rng.normal(spec["mean"], spec["sd"], n)
        bad = (out < low) | (out > high)
        while bad.any():
            out[bad] = rng.normal(spec["mean"], spec["sd"], int(bad.sum()))
            bad = (out < low) | (out > high)
        return out
    raise ValueError(f"unknown distribution {kind!r} in {PRIORS_RESOURCE}")
