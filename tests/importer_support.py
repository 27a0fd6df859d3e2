"""Helpers of the importer tests: tiny tar archives, the shared sets imported once, curve checks."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from broker_plugin.lightcurve import LightCurve
from training.importers import ImportReport


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    """A tar archive of `members` (name: bytes), gzipped when `path` ends in .gz."""
    with tarfile.open(path, "w:gz" if path.suffix == ".gz" else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def shared_import(importer: Callable[..., ImportReport], source: str) -> Any:
    """A module-scoped fixture: `importer(shared_data / source, OUT)` run once, as (report, OUT).

    Assign it to the fixture's name: `crts_import = shared_import(import_crts, "crts/x.tar.gz")`.
    """

    @pytest.fixture(scope="module")
    def imported(
        shared_data: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> tuple[ImportReport, Path]:
        out = tmp_path_factory.mktemp(Path(source).parts[0])
        return importer(shared_data / source, out), out

    return imported


def assert_same_curves(expected: list[LightCurve], actual: list[LightCurve]) -> None:
    """Same curves (by object and band, any order): values, label, band, survey, params, meta."""
    key = lambda c: (c.object_id, c.band or "")  # noqa: E731
    expected, actual = sorted(expected, key=key), sorted(actual, key=key)
    assert [key(c) for c in actual] == [key(c) for c in expected]
    for a, b in zip(expected, actual, strict=True):
        np.testing.assert_array_equal(a.time, b.time)
        np.testing.assert_array_equal(a.mag, b.mag)
        np.testing.assert_array_equal(a.err, b.err)
        assert (b.label, b.band, b.survey) == (a.label, a.band, a.survey)
        assert dict(b.params) == dict(a.params)
        assert dict(b.meta) == dict(a.meta)
