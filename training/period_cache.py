"""Lomb–Scargle periods remembered across runs, keyed by the curve's content.

Why: cadence transfer re-observes real curves through a fit at their period, and the shared
CRTS and Debosscher curves carry none, so each needs a search (0.1–4 s a curve on CRTS's
3,000-day baselines). A model build or a leave-one-survey-out benchmark spends most of
its time there, and every new process would search the same curves again. Found periods
are kept in `$SELFREG_CACHE/periods-<SEARCH_VERSION>.json` (default ~/.cache/selfreg-
varstars), one entry per curve content (object id, band, label, times, magnitudes), so
any change to the curve or to the search gives a new key. `SELFREG_PERIOD_CACHE=0` turns
the file off (the in-process memory stays).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from broker_plugin.lightcurve import LightCurve

#: Bump when the search itself changes, so old answers are not reused.
SEARCH_VERSION = "ls2"
_MEMORY: dict[str, float] = {}
_LOADED: set[Path] = set()


def cache_file() -> Path | None:
    if os.environ.get("SELFREG_PERIOD_CACHE", "1") == "0":
        return None
    root = Path(os.environ.get("SELFREG_CACHE", Path.home() / ".cache" / "selfreg-varstars"))
    return root / f"periods-{SEARCH_VERSION}.json"


def curve_key(curve: LightCurve) -> str:
    digest = hashlib.sha256()
    for part in (curve.object_id, curve.band or "", curve.label or ""):
        digest.update(part.encode() + b"\0")
    digest.update(curve.time.tobytes())
    digest.update(curve.mag.tobytes())
    return digest.hexdigest()[:32]


def _load(path: Path | None) -> None:
    if path is None or path in _LOADED:
        return
    _LOADED.add(path)
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # no cache yet, or an unreadable one: searching again is always correct
    if isinstance(stored, dict):
        for key, value in stored.items():
            if value is None:  # a curve whose search found nothing (NaN)
                _MEMORY[key] = float("nan")
            elif isinstance(value, int | float):
                _MEMORY[key] = float(value)


def cached_periods(curves: list[LightCurve], search: Callable[[LightCurve], float]
                   ) -> list[float]:
    """`search(curve)` for each curve, answered from the cache where it knows the curve."""
    path = cache_file()
    _load(path)
    keys = [curve_key(c) for c in curves]
    new = 0
    for key, curve in zip(keys, curves, strict=True):
        if key not in _MEMORY:
            _MEMORY[key] = float(search(curve))
            new += 1
    if new and path is not None:
        _save(path)
    return [_MEMORY[k] for k in keys]


def _save(path: Path) -> None:
    """Write atomically (a temp file renamed), so parallel runs never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {k: (v if v == v else None) for k, v in _MEMORY.items()}  # NaN → null
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                         suffix=".partial") as handle:
            json.dump(payload, handle)
        Path(handle.name).replace(path)
    except OSError:
        pass  # a read-only home: the cache is an optimisation, never a failure
