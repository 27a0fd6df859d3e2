"""What every part of local-kafka shares: its one-line error, progress log, env parsing, locks.

Standard library only (see local_kafka.py). Imported by the other ``kafka_*.py`` modules
beside it, never by the project's packages.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path


class LocalKafkaError(Exception):
    """A failure the user can fix; printed as one line, no traceback."""


def log(message: str) -> None:
    """Progress goes to stderr: stdout is reserved for the bootstrap address."""
    print(f"local-kafka: {message}", file=sys.stderr, flush=True)


def env_flag(name: str, default: bool) -> bool:
    """Parse a boolean environment variable strictly (the string "false" is false)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise LocalKafkaError(f"{name}={raw!r} is not a boolean; use true or false")


def env_float(name: str, default: float) -> float:
    """Parse a positive number from the environment, with a one-line error."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise LocalKafkaError(f"{name}={raw!r} is not a positive number of seconds")
    return value


def last_matching_line(path: Path, pattern: str) -> str | None:
    """The last line of a log matching a pattern, ANSI colours removed, for one-line errors."""
    if not path.is_file():
        return None
    found = None
    regex = re.compile(pattern)
    for line in path.read_text(errors="replace").splitlines():
        if regex.search(line):
            found = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
    if found and len(found) > 300:
        found = found[:300] + "..."
    return found


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise concurrent starts/fetches (parallel test sessions, a demo beside them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
