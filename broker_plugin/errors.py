"""The error users see: one line saying what, where and how to fix, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input, file or configuration; the CLI prints it as one line."""
