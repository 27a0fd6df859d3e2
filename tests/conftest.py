"""Shared fixtures. Real survey data lives in ../shared/data (beside the clone, never copied in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SELFREG_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: a user's clone has no ../shared (CI has it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the real survey data in {SHARED_DATA} (absent in this clone)")
    return SHARED_DATA
