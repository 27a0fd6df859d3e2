"""Build a cached folder once, whoever asks first: the pattern of every tool we fetch.

Apicurio's distribution and the UPSILoN venv live in the cache outside the clone and take
minutes to make; parallel callers (pytest workers, two benches) must wait for one build
instead of deleting each other's half-built folder, and a build cut short must not pass
for a finished one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """Where the project caches what it fetches or builds, outside the clone: SELFREG_CACHE,
    or ~/.cache/selfreg-varstars (unset or empty, as scripts/dev-env reads it)."""
    return Path(os.environ.get("SELFREG_CACHE") or Path.home() / ".cache" / "selfreg-varstars")


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target`, made by `build(target)` the first time only (under a lock beside it); it
    counts as built once `build` returned, marked by ``target/.complete``."""
    marker = target / ".complete"
    if marker.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():  # another process built it while we waited
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        build(target)
        marker.touch()
    return target
