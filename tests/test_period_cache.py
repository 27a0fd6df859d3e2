"""Periods found once are reused, across processes through the cache file, per curve content."""

from __future__ import annotations

import numpy as np
import pytest

from broker_plugin.lightcurve import LightCurve
from training import period_cache


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFREG_CACHE", str(tmp_path))
    monkeypatch.delenv("SELFREG_PERIOD_CACHE", raising=False)
    monkeypatch.setattr(period_cache, "_MEMORY", {})
    monkeypatch.setattr(period_cache, "_LOADED", set())
    return tmp_path


def _curve(oid: str, shift: float = 0.0) -> LightCurve:
    t = np.linspace(0, 50, 40)
    return LightCurve(oid, t, 15 + np.sin(t) + shift, np.full(40, 0.01), band="V", label="ECL")


def test_each_curve_is_searched_once_and_remembered_on_disk(fresh_cache, monkeypatch) -> None:
    calls: list[str] = []

    def search(curve: LightCurve) -> float:
        calls.append(curve.object_id)
        return float("nan") if curve.object_id == "none" else 1.5

    curves = [_curve("a"), _curve("b"), _curve("none")]
    first = period_cache.cached_periods(curves, search)
    assert first[:2] == [1.5, 1.5] and np.isnan(first[2]) and calls == ["a", "b", "none"]
    assert period_cache.cached_periods(curves, search)[:2] == [1.5, 1.5]
    assert calls == ["a", "b", "none"]  # memory answered
    # A new process: memory empty, the file answers (NaN included); new content is searched.
    monkeypatch.setattr(period_cache, "_MEMORY", {})
    monkeypatch.setattr(period_cache, "_LOADED", set())
    again = period_cache.cached_periods([*curves, _curve("a", shift=0.1)], search)
    assert calls == ["a", "b", "none", "a"] and np.isnan(again[2])
    assert (fresh_cache / f"periods-{period_cache.SEARCH_VERSION}.json").is_file()


def test_cache_file_can_be_turned_off(fresh_cache, monkeypatch) -> None:
    monkeypatch.setenv("SELFREG_PERIOD_CACHE", "0")
    period_cache.cached_periods([_curve("a")], lambda c: 2.0)
    assert not list(fresh_cache.glob("periods-*.json"))
