"""`LightCurve`: the one currency between readers, simulators, generators and models.

Every source (OGLE `.dat`, CSV, the shared real sets, the simulator, the synthetic generator,
LSST and ZTF alerts) produces these, so that features are computed one way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from broker_plugin.errors import UserError

#: The five classes of the method, in the order models use unless a model card says otherwise.
CLASSES: tuple[str, ...] = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")

#: Physical parameters carried by simulated (and some real) curves; units: period [d],
#: teff [K], feh [dex], abs_gmag [mag], logg [cgs dex], radius [R_sun].
PHYSICAL_PARAMETERS: tuple[str, ...] = ("period", "teff", "feh", "abs_gmag", "logg", "radius")


class LightCurveError(UserError, ValueError):
    """A light curve that cannot be built as asked (mismatched or non-1-D arrays)."""


@dataclass(frozen=True, eq=False)
class LightCurve:
    """Photometry of one object in one band: times in days, magnitudes and their errors.

    Arrays are stored as given (not sorted or cleaned): the featuriser owns cleaning, so
    training and serving clean identically. Transforms return new objects.
    """

    object_id: str
    time: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    band: str | None = None
    label: str | None = None
    survey: str | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("time", "mag", "err"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.ndim != 1:
                raise LightCurveError(
                    f"light curve {self.object_id!r}: {name} must be 1-D, got shape {value.shape}"
                )
            arrays[name] = value
        sizes = {name: a.size for name, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise LightCurveError(
                f"light curve {self.object_id!r}: time, mag and err differ in length {sizes}"
            )
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def baseline(self) -> float:
        """Time span in days (0 for fewer than two finite times)."""
        t = self.time[np.isfinite(self.time)]
        return float(t.max() - t.min()) if t.size > 1 else 0.0

    def with_(self, **changes: Any) -> LightCurve:
        """A copy with some fields replaced (dataclasses.replace, re-validated)."""
        return replace(self, **changes)

    def sorted(self) -> LightCurve:
        """A copy in time order."""
        order = np.argsort(self.time, kind="stable")
        return self.with_(time=self.time[order], mag=self.mag[order], err=self.err[order])
