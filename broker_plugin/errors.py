"""The error users see: one line saying what, where and how to fix, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


class UserError(Exception):
    """A mistake in the user's input, file or configuration; the CLI prints it as one line."""


class ServiceStopError(RuntimeError):
    """The running service met what it must not ride out (a fenced consumer, records Kafka
    would not acknowledge): it stops with one line and exit status 1, offsets as last
    committed, so that a supervisor's restart resumes without loss."""


def reject_unknown_fields(
    settings_class: type, data: Mapping[str, Any], error: type[UserError], what: str
) -> None:
    """Refuse keys that are not fields of the dataclass `settings_class`, listing valid ones.

    Shared by every settings object read from a file or a model card, so that a typo in
    any of them reads the same way: what is unknown and what would have been valid.
    """
    known = {f.name for f in fields(settings_class)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"unknown {what} {unknown}; valid names are {sorted(known)}")
